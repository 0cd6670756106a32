"""Review fixes in the runtime: failed-item episodes, quota refusals taken from the engine's
structured flag (with its retry-after), and the periodic full scan of newest-first
integrations (the only way they see remote deletes)."""

from __future__ import annotations

import sqlite3
import time
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from crmsync.db.local import Cliente
from crmsync.db.session import session_scope
from crmsync.db.sync import CrmEntityLink, CrmIntegracao, CrmItemFalho
from crmsync.runtime.options import runtime_options
from crmsync.runtime.scheduler import Scheduler
from crmsync.sandbox.server import SandboxServer
from crmsync.settings import get_settings
from runtime.conftest import Env, insert_cliente, make_tenant

BUDGET = 27000  # GestãoClick's 30,000 a day minus the 10% kept for the company's other apps
ZONE = "America/Sao_Paulo"


def _item(integracao_id: int, direcao: str = "push") -> CrmItemFalho:
    with session_scope() as s:
        item = s.scalars(
            select(CrmItemFalho).where(CrmItemFalho.id_integracao == integracao_id, CrmItemFalho.direcao == direcao)
        ).one()
        s.expunge(item)
        return item


def _seed_item(integracao_id: int, entity_id: int = 5, **fields: Any) -> None:
    """A failed push item of cliente `entity_id`, written as a past failure left it."""
    with session_scope() as s:
        integ = s.get(CrmIntegracao, integracao_id)
        assert integ is not None
        s.add(
            CrmItemFalho(
                id_loja=integ.id_loja,
                id_integracao=integ.id,
                entity_type="cliente",
                direcao="push",
                chave=f"local:{entity_id}",
                entity_id=entity_id,
                **fields,
            )
        )


def _note_failure(integracao_id: int, error: str) -> None:
    from crmsync.engine.ledger import note_failure

    with session_scope() as s:
        integ = s.get(CrmIntegracao, integracao_id)
        assert integ is not None
        note_failure(s, integ, "cliente", "push", entity_id=5, external_id=None, error=error, opts=runtime_options())


def test_failure_after_a_resolved_episode_starts_over(rt_env: Env) -> None:
    tenant = make_tenant("http://127.0.0.1:9")
    _seed_item(tenant.integracao_id, status="resolvido", tentativas=7)
    _note_failure(tenant.integracao_id, "falhou de novo")
    item = _item(tenant.integracao_id)
    # Not parked after one failure because of attempts of an episode long resolved.
    assert item.status == "pendente" and item.tentativas == 1 and item.proxima_tentativa is not None


def test_ignored_item_is_left_alone_by_failures_and_closed_by_a_success(rt_env: Env) -> None:
    from crmsync.engine.ledger import note_success

    tenant = make_tenant("http://127.0.0.1:9")
    _seed_item(tenant.integracao_id, status="ignorado", tentativas=3, ultimo_erro="erro antigo")
    before = _item(tenant.integracao_id)
    _note_failure(tenant.integracao_id, "erro novo")
    item = _item(tenant.integracao_id)
    assert item.status == "ignorado" and item.tentativas == 3
    # Untouched, so `atualizado_em` still says when it was ignored (the sweep compares it
    # with the row's `modificado_em` to notice a later change).
    assert item.ultimo_erro == "erro antigo" and item.atualizado_em == before.atualizado_em
    with session_scope() as s:
        integ = s.get(CrmIntegracao, tenant.integracao_id)
        assert integ is not None
        note_success(s, integ, "cliente", "push", entity_id=5)
    assert _item(tenant.integracao_id).status == "resolvido"


def _spend_quota(tenant_hash: str, used: int) -> None:
    """Pretend the company already used `used` requests today."""
    path = get_settings().resolved_ratelimit_url()[len("sqlite:///") :]
    from crmsync.providers.limits import open_shared_limits

    open_shared_limits("sqlite:///" + path).close()  # create the tables
    day = datetime.now(ZoneInfo(ZONE)).date().isoformat()
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT OR REPLACE INTO crmsync_quota (key, day, used) VALUES (?, ?, ?)", (tenant_hash, day, used))


def _next_midnight() -> datetime:
    now = datetime.now(ZoneInfo(ZONE))
    tomorrow = (now + timedelta(days=1)).date()
    return datetime(tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=ZoneInfo(ZONE))


def test_quota_refusal_waits_for_the_providers_next_day(rt_env: Env) -> None:
    """The runtime takes the refusal from the result's flag and waits the `retry_after` the
    quota guard gave (the provider's midnight), instead of a fixed hour, without counting."""
    from crmsync.runtime.jobs import pull_record, push_record
    from crmsync.services.integracoes import credentials_hash

    with SandboxServer(access_token="rf-q", secret_access_token="rf-qs") as sb:
        tenant = make_tenant(sb.base_url, access_token="rf-q", secret_access_token="rf-qs")
        local_id = insert_cliente(tenant.loja_id, "Sem Cota", "semcota@example.com")
        _spend_quota(credentials_hash("rf-q", "rf-qs"), BUDGET)
        assert push_record(tenant.integracao_id, "cliente", local_id) == "erro"
        assert pull_record(tenant.integracao_id, "cliente", "123") == "erro"
        assert sb.stats()["total_requests"] == 0
    midnight = _next_midnight()
    for direcao in ("push", "pull"):
        item = _item(tenant.integracao_id, direcao)
        assert item.status == "pendente" and item.tentativas == 0, direcao
        assert item.proxima_tentativa is not None
        assert abs((item.proxima_tentativa - midnight).total_seconds()) < 300, (direcao, item.proxima_tentativa)


def _full_pulls() -> list[tuple[Any, ...]]:
    from crmsync.runtime.queue import get_huey

    return [
        tuple(task.args)
        for task in get_huey().pending()
        if "pull_entity" in str(task.name) and len(task.args) >= 3 and task.args[2] is True
    ]


def test_newest_first_integration_gets_a_daily_full_scan_that_finds_remote_deletes(rt_env: Env) -> None:
    from crmsync.runtime.jobs import pull_entity

    with SandboxServer(access_token="rf-d", secret_access_token="rf-ds", seed=3, seed_records={"clientes": 4}) as sb:
        tenant = make_tenant(
            sb.base_url,
            access_token="rf-d",
            secret_access_token="rf-ds",
            config={"ordenar_por_modificacao": True, "entidades": {"cliente": {}}},
        )
        assert pull_entity(tenant.integracao_id, "cliente") == "sucesso"  # first pull: a full scan
        with session_scope() as s:
            links = list(s.scalars(select(CrmEntityLink).where(CrmEntityLink.id_integracao == tenant.integracao_id)))
            assert len(links) == 4
            gone_ext, gone_local = links[1].external_id, links[1].entity_id
        sb.panel_delete("clientes", gone_ext)
        # The newest-first poll stops at the watermark: it cannot see the delete.
        assert pull_entity(tenant.integracao_id, "cliente") == "sucesso"
        with session_scope() as s:
            row = s.get(Cliente, gone_local)
            assert row is not None and row.deletado_em is None

        scheduler = Scheduler()
        t0 = time.time()
        scheduler.tick(now=t0)
        assert _full_pulls() == []  # the clock starts; nothing due yet
        scheduler.tick(now=t0 + 3600)
        assert _full_pulls() == []
        scheduler.tick(now=t0 + 24 * 3600 + 1)  # the default period: once a day
        queued = _full_pulls()
        assert queued == [(tenant.integracao_id, "cliente", True, "cron")]
        assert pull_entity(*queued[0]) == "sucesso"
        with session_scope() as s:
            row = s.get(Cliente, gone_local)
            assert row is not None and row.deletado_em is not None


def test_push_job_closes_the_failed_item_of_a_success_once_and_records_no_failure(rt_env: Env) -> None:
    """The push job closes a success's failed item itself (the engine is told not to spend a
    transaction of its own on it): the earlier failure of the record is resolved with its
    error cleared, and a record that never failed gets no failed item at all."""
    from crmsync.runtime.jobs.push import push_record

    with SandboxServer(access_token="a9", secret_access_token="s9") as sb:
        tenant = make_tenant(sb.base_url, access_token="a9", secret_access_token="s9")
        failed_before = insert_cliente(tenant.loja_id, "Falhou Antes", "falhou.antes@example.com")
        never_failed = insert_cliente(tenant.loja_id, "Nunca Falhou", "nunca.falhou@example.com")
        _seed_item(
            tenant.integracao_id, failed_before, status="pendente", tentativas=2, ultimo_erro="o CRM não respondeu"
        )
        assert push_record(tenant.integracao_id, "cliente", failed_before) == "create"
        assert push_record(tenant.integracao_id, "cliente", never_failed) == "create"
    with session_scope() as s:
        items = s.scalars(select(CrmItemFalho).where(CrmItemFalho.id_integracao == tenant.integracao_id)).all()
        assert [(i.entity_id, i.status, i.ultimo_erro) for i in items] == [(failed_before, "resolvido", None)]
