"""The engine against the SuiteCRM sandbox over real HTTP, through SuiteCrmProvider: the
spec's cases 7.1-7.4, incremental polls that cost requests per change, a person turned
company without a duplicate, remote deletes found by the full scan, a revoked secret."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select
from suite_world import SuiteWorld

import crmsync.engine.pull as engine_pull
from crmsync.db.local import Cliente
from crmsync.db.sync import CrmConflito, CrmEntityLink, CrmItemFalho
from crmsync.engine import SyncEngine

SPEC_CONFIG = yaml.safe_load((Path(__file__).parents[2] / "crmsync/examples/spec-config.yaml").read_text())


def _bean(external_id: str) -> tuple[str, str]:
    module, _, bean_id = external_id.partition(":")
    return module, bean_id


def test_spec_cases_7_1_to_7_4_over_http(suite_world: SuiteWorld) -> None:
    env, w, sb = suite_world, suite_world.world, suite_world.sb
    # 7.1 created in the ERP -> POST to Contacts, linked
    maria = w.add_cliente(nome="Maria Santos", email="maria@email.com", cpf="52998224725")
    # 7.2 created in SuiteCRM -> imported
    pedro = sb.panel_create("Contacts", {"first_name": "Pedro", "last_name": "Oliveira", "email1": "pedro@x.com"})
    # 7.4 same e-mail on both sides -> retro-link, no duplicate
    joao = w.add_cliente(nome="João Silva", email="joao@email.com")
    sb.panel_create("Contacts", {"first_name": "João", "last_name": "S.", "email1": "joao@email.com"})
    result = env.engine(SPEC_CONFIG).sync(["cliente"])
    assert result.success, result.as_dict()
    remote = {r["email1"]: r for r in sb.store.list_all("Contacts")}
    assert set(remote) == {"maria@email.com", "pedro@x.com", "joao@email.com"}
    assert remote["maria@email.com"]["cpf_c"] == "529.982.247-25"  # the integration's custom field
    assert len(w.rows(Cliente)) == 3
    maria_link = w.link_of("cliente", maria)
    assert maria_link is not None and maria_link.external_id.startswith("Contacts:")
    assert f"Contacts:{pedro['id']}" in {w.link_of("cliente", r.id).external_id for r in w.rows(Cliente)}  # type: ignore[union-attr]
    # echo: a second sync writes nothing on either side
    before = env.writes()
    second = env.engine(SPEC_CONFIG).sync(["cliente"])
    assert second.success and env.writes() == before

    # 7.3 simultaneous edit, nome under manual_se_diferente -> pending conflict, nothing lost
    module, bean = _bean(w.link_of("cliente", joao).external_id)  # type: ignore[union-attr]
    w.edit(Cliente, joao, nome="João Silva Santos")
    sb.panel_update(module, bean, {"first_name": "J.", "last_name": "Silva"})
    env.engine(SPEC_CONFIG).sync(["cliente"])
    assert w.get(Cliente, joao).nome == "João Silva Santos"
    assert sb.panel_get(module, bean)["last_name"] == "Silva"
    with w.sf() as s:
        conflict = s.scalars(select(CrmConflito).where(CrmConflito.status == "pendente")).one()
    assert conflict.campos["nome"]["externo"] == "J. Silva"
    env.engine(SPEC_CONFIG).resolve_conflict(conflict.id, "local", actor="gerente")
    got = sb.panel_get(module, bean)
    assert (got["first_name"], got["last_name"]) == ("João", "Silva Santos")
    before = env.writes()
    assert env.engine(SPEC_CONFIG).sync(["cliente"]).success
    assert env.writes() == before


def test_incremental_poll_costs_requests_per_change_not_per_store(suite_world: SuiteWorld) -> None:
    env, w, sb = suite_world, suite_world.world, suite_world.sb
    # Edited a minute apart over the last days: a poll re-reads only its overlap, not the store.
    start = datetime.now(UTC) - timedelta(days=2)
    rows = [
        {
            "first_name": f"Pessoa{i}",
            "last_name": "Teste",
            "email1": f"p{i}@x.com",
            "date_modified": (start + timedelta(minutes=i)).isoformat(),
        }
        for i in range(450)
    ]
    sb.store.bulk_create("Contacts", rows)
    first = env.engine().pull("cliente")
    assert first.success and first.total_criados == 450 and first.paginas == 6  # 5 Contacts pages + 1 Accounts
    contacts = sb.store.list_all("Contacts")
    for row in contacts[:3]:
        sb.panel_update("Contacts", row["id"], {"phone_work": "(11) 3522-8899"})
    sb.reset_stats()
    poll = env.engine().pull("cliente")
    assert poll.success, poll.as_dict()
    assert poll.total_atualizados == 3 and poll.total_processados <= 10  # the changes and the overlap
    routes = {k: v["requests"] for k, v in sb.stats()["routes"].items() if "/V8/" in k}
    # one page of changes per module (Contacts, Accounts), no full scan; a token at most
    assert sum(routes.values()) <= 2, routes
    assert sb.stats()["total_requests"] <= 3
    changed = {r.email: r.telefone for r in w.rows(Cliente) if r.telefone}
    assert sorted(changed) == sorted(r["email1"] for r in contacts[:3])


def test_edits_later_in_the_same_minute_are_not_skipped(suite_world: SuiteWorld) -> None:
    """Minute stamps: a record edited after the poll but stamped with the poll's minute is
    read by the next poll (gte plus overlap), and what was already applied is dropped."""
    env, w, sb = suite_world, suite_world.world, suite_world.sb
    a = sb.panel_create("Contacts", {"first_name": "Ana", "last_name": "Um", "email1": "a@x.com"})
    assert env.engine().pull("cliente").success
    with w.sf() as s:
        stamp = max(link.remote_modificado_em for link in s.scalars(select(CrmEntityLink)))  # type: ignore[type-var]
    b = sb.panel_create("Contacts", {"first_name": "Bia", "last_name": "Dois", "email1": "b@x.com"})
    sb.panel_set_date_modified("Contacts", b["id"], stamp)  # same minute as what was read
    sb.panel_update("Contacts", a["id"], {"phone_mobile": "(96) 9 9194-9455"})
    sb.panel_set_date_modified("Contacts", a["id"], stamp)
    poll = env.engine().pull("cliente")
    assert poll.success, poll.as_dict()
    assert poll.total_criados == 1 and poll.total_atualizados == 1
    assert sorted(r.email for r in w.rows(Cliente)) == ["a@x.com", "b@x.com"]
    again = env.engine().pull("cliente")  # re-reads the window, applies nothing
    assert again.total_criados == 0 and again.total_atualizados == 0


def test_person_turned_company_moves_without_a_duplicate(suite_world: SuiteWorld) -> None:
    env, w, sb = suite_world, suite_world.world, suite_world.sb
    cid = w.add_cliente(nome="Carlos Lima", email="carlos@x.com", cpf="52998224725", tipo_pessoa="PF")
    assert env.engine().sync(["cliente"]).success
    old = w.link_of("cliente", cid).external_id  # type: ignore[union-attr]
    assert old.startswith("Contacts:")
    w.edit(Cliente, cid, tipo_pessoa="PJ", cnpj="11222333000181", nome="Carlos Lima ME")
    result = env.engine().sync(["cliente"])
    assert result.success, result.as_dict()
    new = w.link_of("cliente", cid).external_id  # type: ignore[union-attr]
    assert new.startswith("Accounts:")
    accounts = sb.store.list_all("Accounts")
    assert [(a["name"], a["cnpj_c"]) for a in accounts] == [("Carlos Lima ME", "11.222.333/0001-81")]
    assert sb.store.list_all("Contacts") == []  # the Contact is gone, not left as a twin
    assert len(w.rows(Cliente)) == 1
    before = env.writes()
    assert env.engine().sync(["cliente"]).success  # settled: nothing moves back
    assert env.writes() == before and w.link_of("cliente", cid).external_id == new  # type: ignore[union-attr]


def _six_synced_one_deleted_in_the_crm(suite_world: SuiteWorld, email_user: str, deleted: int) -> list[int]:
    """Six clientes synced, then the `deleted`-th deleted in SuiteCRM's own panel: their local ids."""
    w = suite_world.world
    ids = [w.add_cliente(nome=f"Cliente {i}", email=f"{email_user}{i}@x.com") for i in range(6)]
    assert suite_world.engine().sync(["cliente"]).success
    module, bean = _bean(w.link_of("cliente", ids[deleted]).external_id)  # type: ignore[union-attr]
    suite_world.sb.panel_delete(module, bean)
    return ids


def test_remote_deletes_are_found_by_the_full_scan(suite_world: SuiteWorld) -> None:
    env, w = suite_world, suite_world.world
    ids = _six_synced_one_deleted_in_the_crm(suite_world, "c", 0)
    incremental = env.engine().pull("cliente")
    assert incremental.success and w.get(Cliente, ids[0]).deletado_em is None  # not listed: unseen
    full = env.engine().pull("cliente", full=True)
    assert full.success, full.as_dict()
    assert full.total_excluidos == 1
    assert w.get(Cliente, ids[0]).deletado_em is not None
    assert all(w.get(Cliente, i).deletado_em is None for i in ids[1:])


def _engine_with_a_rotated_secret(suite_world: SuiteWorld, email_user: str, old_secret: str) -> SyncEngine:
    """Five local clientes; the CRM's client secret rotated and its tokens revoked; an engine
    that still holds `old_secret`."""
    w, sb = suite_world.world, suite_world.sb
    for i in range(5):
        w.add_cliente(nome=f"Cliente {i}", email=f"{email_user}{i}@x.com")
    sb.state.config.client_secret = "rotated-secret"
    sb.revoke_tokens()
    return suite_world.engine(credentials={"client_id": sb.client_id, "client_secret": old_secret})


def test_revoked_secret_is_one_clear_error_not_one_per_record(suite_world: SuiteWorld) -> None:
    sb = suite_world.sb
    engine = _engine_with_a_rotated_secret(suite_world, "r", "old-secret-123")
    pulled = engine.pull("cliente")
    assert not pulled.success
    assert "invalid_client" in (pulled.message or "") and "/Api/access_token" in (pulled.message or "")
    assert "old-secret-123" not in str(pulled.as_dict())
    token_requests = sb.stats()["total_requests"]
    assert token_requests <= 2  # refused once per attempt, never in a loop


def test_stamp_window_starts_at_the_minute(suite_world: SuiteWorld) -> None:
    provider = suite_world.provider()
    try:
        sb = suite_world.sb
        rec = sb.panel_create("Contacts", {"first_name": "X", "last_name": "Y"})
        moment = datetime(2026, 3, 1, 10, 15, 42, tzinfo=UTC)
        sb.panel_set_date_modified("Contacts", rec["id"], moment)
        got = [r.external_id for p in provider.iter_changed("cliente", moment) for r in p.records]
        assert got == [f"Contacts:{rec['id']}"]  # stamped 10:15:00, read from 10:15:42
        later = [r for p in provider.iter_changed("cliente", moment + timedelta(minutes=1)) for r in p.records]
        assert later == []
    finally:
        provider.close()


def test_revoked_secret_on_push_is_one_error_not_a_failed_item_per_record(suite_world: SuiteWorld) -> None:
    w, sb = suite_world.world, suite_world.sb
    engine = _engine_with_a_rotated_secret(suite_world, "s", "old-secret-456")
    pushed = engine.push("cliente")
    assert pushed.erros == 1 and pushed.total == 1  # stopped at the first refusal
    message = pushed.itens[0].message or ""
    assert "invalid_client" in message and "old-secret-456" not in message
    with w.sf() as s:
        assert s.scalar(select(func.count()).select_from(CrmItemFalho)) == 0  # nothing to retry per record
    assert sb.store.count("Contacts") == 0


def test_remote_deletes_are_found_by_the_hourly_id_scan(
    suite_world: SuiteWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    env, w, sb = suite_world, suite_world.world, suite_world.sb
    ids = _six_synced_one_deleted_in_the_crm(suite_world, "d", 2)
    within_the_hour = env.engine().pull("cliente")
    assert within_the_hour.success and w.get(Cliente, ids[2]).deletado_em is None  # not due yet
    monkeypatch.setattr(engine_pull, "ID_SCAN_SECONDS", 0)  # an hour later
    sb.reset_stats()
    poll = env.engine().pull("cliente")
    assert poll.success, poll.as_dict()
    assert poll.total_excluidos == 1 and w.get(Cliente, ids[2]).deletado_em is not None
    routes = {k: v["requests"] for k, v in sb.stats()["routes"].items() if "/V8/" in k}
    # changes (one page per module), ids (one page per module), the delete confirmed by a get
    assert sum(routes.values()) == 5, routes
    assert all(w.get(Cliente, i).deletado_em is None for i in ids if i != ids[2])


def test_entities_the_provider_lacks_are_skipped_not_failed(suite_world: SuiteWorld) -> None:
    env = suite_world
    pulled = env.engine().pull("venda")
    assert pulled.success and pulled.total_processados == 0 and "não sincroniza venda" in (pulled.message or "")
    assert env.engine().push("venda").total == 0
    assert env.sb.stats()["total_requests"] == 0  # nothing asked of SuiteCRM
