"""Automatic push: a save through the API reaches the CRM by itself, without the API waiting
for (or failing because of) the CRM; a row written straight into the database is found by
the reconcile pass; a job run twice has the effect of one."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import func, select
from support.ports import held_port

from crmsync.db.local import Cliente
from crmsync.db.session import session_scope
from crmsync.db.sync import CrmEntityLink, CrmItemFalho
from crmsync.db.types import utcnow
from crmsync.runtime import install_listeners, uninstall_listeners, wait_dispatched
from crmsync.runtime.embedded import EmbeddedRuntime
from crmsync.sandbox.server import SandboxServer
from runtime.conftest import Env, Tenant, insert_cliente, make_tenant, use_env, wait_for


def _remote_by_email(sb: SandboxServer, email: str) -> dict[str, Any] | None:
    for row in sb.panel_list("clientes"):
        if (row.get("email") or "").lower() == email:
            return row
    return None


def _post_cliente(api: Any, tenant: Tenant, nome: str, email: str) -> int:
    """A cliente created through the live API (as the ERP's front end would): its local id."""
    r = httpx.post(
        f"http://127.0.0.1:{api.port}/api/clientes",
        headers={"Authorization": f"Bearer {tenant.api_key}"},
        json={"nome": nome, "email": email},
        timeout=60,
    )
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def test_api_create_is_pushed_automatically(rt_env: Env, api_server: Any) -> None:
    with SandboxServer(access_token="a1", secret_access_token="s1") as sb:
        tenant = make_tenant(sb.base_url, access_token="a1", secret_access_token="s1")
        install_listeners()
        api = api_server()
        try:
            with EmbeddedRuntime(scheduler=False):
                local_id = _post_cliente(api, tenant, "Joana Automática", "joana.auto@example.com")
                remote = wait_for(lambda: _remote_by_email(sb, "joana.auto@example.com"), what="push")
                assert remote["nome"] == "Joana Automática"

                def link() -> CrmEntityLink | None:
                    with session_scope() as s:
                        return s.scalar(
                            select(CrmEntityLink).where(
                                CrmEntityLink.entity_type == "cliente", CrmEntityLink.entity_id == local_id
                            )
                        )

                assert wait_for(link, what="link committed").external_id == str(remote["id"])
                # An update through the API flows the same way.
                r = httpx.put(
                    f"http://127.0.0.1:{api.port}/api/clientes/{local_id}",
                    headers={"Authorization": f"Bearer {tenant.api_key}"},
                    json={"nome": "Joana Atualizada"},
                    timeout=60,
                )
                assert r.status_code == 200, r.text
                wait_for(
                    lambda: sb.panel_get("clientes", remote["id"])["nome"] == "Joana Atualizada",
                    what="update pushed",
                )
        finally:
            uninstall_listeners()


def test_api_answers_while_crm_is_down_and_push_arrives_later(rt_env: Env, api_server: Any) -> None:
    down = held_port()  # bound, not listening: the CRM is down, and the port stays ours
    port = int(down.getsockname()[1])
    tenant = make_tenant(f"http://127.0.0.1:{port}", access_token="a2", secret_access_token="s2")
    install_listeners()
    api = api_server()
    try:
        with EmbeddedRuntime(scheduler=True):
            local_id = _post_cliente(api, tenant, "Carlos Offline", "carlos.offline@example.com")
            wait_dispatched()

            def failed_item() -> CrmItemFalho | None:
                with session_scope() as s:
                    return s.scalar(
                        select(CrmItemFalho).where(CrmItemFalho.entity_id == local_id, CrmItemFalho.direcao == "push")
                    )

            item = wait_for(failed_item, what="failed item recorded while the CRM is down")
            assert item.status == "pendente" and item.ultimo_erro
            # The CRM comes back: the retry (backoff) pushes the record.
            down.close()
            with SandboxServer(port=port, access_token="a2", secret_access_token="s2") as sb:
                wait_for(
                    lambda: _remote_by_email(sb, "carlos.offline@example.com"),
                    timeout=60,
                    what="push after the CRM came back",
                )
                wait_for(lambda: failed_item().status == "resolvido", what="failed item resolved")
    finally:
        down.close()
        uninstall_listeners()


def test_row_written_directly_in_the_database_is_found_and_pushed(rt_env: Env) -> None:
    with SandboxServer(access_token="a3", secret_access_token="s3") as sb:
        tenant = make_tenant(sb.base_url, access_token="a3", secret_access_token="s3")
        with session_scope() as s:  # like the PHP ERP: no API call, no event
            now = utcnow()
            s.add(
                Cliente(
                    id_loja=tenant.loja_id,
                    nome="Direto No Banco",
                    email="direto@example.com",
                    tipo_pessoa="PF",
                    cadastrado_em=now,
                    modificado_em=now,
                )
            )
        with EmbeddedRuntime(scheduler=True):
            remote = wait_for(lambda: _remote_by_email(sb, "direto@example.com"), what="reconcile push")
            # ... and so is a later direct UPDATE of the same row.
            with session_scope() as s:
                row = s.scalar(select(Cliente).where(Cliente.email == "direto@example.com"))
                assert row is not None
                row.nome = "Direto Alterado"
                row.modificado_em = utcnow()
            wait_for(
                lambda: sb.panel_get("clientes", remote["id"])["nome"] == "Direto Alterado",
                what="direct update pushed",
            )


def test_job_run_twice_has_the_effect_of_one(rt_env: Env) -> None:
    from crmsync.runtime.jobs import pull_entity, push_record

    with SandboxServer(access_token="a4", secret_access_token="s4", seed=3, seed_records={"clientes": 15}) as sb:
        tenant = make_tenant(sb.base_url, access_token="a4", secret_access_token="s4")
        local_id = insert_cliente(tenant.loja_id, "Duas Vezes", "duas@example.com")
        first = push_record(tenant.integracao_id, "cliente", local_id)
        second = push_record(tenant.integracao_id, "cliente", local_id)
        assert first == "create"
        assert second != "create"
        assert sum(1 for r in sb.panel_list("clientes") if r.get("email") == "duas@example.com") == 1
        assert sb.stats()["routes"]["POST /clientes"]["requests"] == 1

        assert pull_entity(tenant.integracao_id, "cliente") == "sucesso"
        assert pull_entity(tenant.integracao_id, "cliente") == "sucesso"
        with session_scope() as s:
            locals_ = s.scalar(select(func.count(Cliente.id)).where(Cliente.id_loja == tenant.loja_id))
            links = s.scalar(
                select(func.count(CrmEntityLink.id)).where(CrmEntityLink.id_integracao == tenant.integracao_id)
            )
        assert locals_ == 16 and links == 16


def test_a_row_deleted_before_its_first_push_is_done_not_failed(rt_env: Env) -> None:
    """The ERP deletes a row while its push is still queued: nothing exists on either side, so
    the job ends `ignorado`, with no request, no failed item and no error in the log."""
    from crmsync.db.sync import CrmSyncLog
    from crmsync.runtime.jobs import push_record

    with SandboxServer(access_token="a5", secret_access_token="s5") as sb:
        tenant = make_tenant(sb.base_url, access_token="a5", secret_access_token="s5")
        local_id = insert_cliente(tenant.loja_id, "Apagado Cedo", "cedo@example.com")
        with session_scope() as s:
            s.delete(s.get(Cliente, local_id))
        assert push_record(tenant.integracao_id, "cliente", local_id) == "ignorado"
        assert sb.stats()["total_requests"] == 0
        with session_scope() as s:
            assert s.scalar(select(func.count(CrmItemFalho.id))) == 0
            assert s.scalar(select(func.count(CrmSyncLog.id)).where(CrmSyncLog.status == "erro")) == 0


def test_api_answers_when_the_queue_itself_is_down(
    tmp_path: Any, monkeypatch: Any, sqlite_url: str, api_server: Any
) -> None:
    """Redis unreachable: the save is still answered (201) and kept; the push is simply not
    queued, and the periodic reconcile finds the row once the queue is back."""

    down = held_port()  # no Redis answers there while the test runs
    use_env(monkeypatch, tmp_path, sqlite_url, f"redis://127.0.0.1:{down.getsockname()[1]}/0?queue=down")
    tenant = make_tenant("http://127.0.0.1:9", access_token="qd", secret_access_token="qds")
    install_listeners()
    api = api_server()
    try:
        r = httpx.post(
            f"http://127.0.0.1:{api.port}/api/clientes",
            headers={"Authorization": f"Bearer {tenant.api_key}"},
            json={"nome": "Fila Fora", "email": "fila.fora@example.com"},
            timeout=60,
        )
        assert r.status_code == 201, r.text
        assert wait_dispatched(30)  # the hand-off gave up on the queue without the request noticing
        with session_scope() as s:
            assert s.get(Cliente, r.json()["id"]) is not None
    finally:
        down.close()
        uninstall_listeners()
