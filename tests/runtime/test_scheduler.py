"""The scheduler keeps each company inside its daily quota share: it spaces polls out when
full scans at the configured interval would not fit, defers a scan that would not fit in
what is left today (saying why in /api/crm/status), and no request beyond the quota is ever
sent."""

from __future__ import annotations

import sqlite3
import time
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import select

from crmsync.db.session import session_scope
from crmsync.db.sync import CrmItemFalho
from crmsync.runtime import install_listeners, uninstall_listeners
from crmsync.runtime.embedded import EmbeddedRuntime
from crmsync.runtime.scheduler import Scheduler, plan_interval
from crmsync.sandbox.server import SandboxServer
from crmsync.settings import get_settings
from runtime.conftest import Env, insert_cliente, make_tenant, wait_for

BUDGET = 27000  # GestãoClick's 30,000 a day minus the 10% kept for the company's other apps


def test_plan_interval_arithmetic() -> None:
    # 5 pages every 10 minutes = 720 a day: fits a 27,000 share.
    assert plan_interval(10, 5, 27000)[:2] == (10, "normal")
    # 500 pages (50k records) every 10 minutes = 72,000 a day: spaced to fit 80% of the share.
    minutes, situation, reason = plan_interval(10, 500, 27000)
    assert situation == "espacado" and minutes == 34 and "34 minutos" in reason
    assert 500 * (24 * 60 / minutes) <= 27000 * 0.8
    # Shared by 50 integrations of one company: each gets 540 a day.
    assert plan_interval(10, 5, 540)[1] == "espacado"
    # A scan bigger than a whole day's share.
    assert plan_interval(10, 2000, 1000)[1] == "sem_cota"
    assert plan_interval(10, 5, None)[:2] == (10, "normal")


def _spend_quota(tenant_hash: str, used: int) -> None:
    """Pretend the company (its other apps, earlier runs) already used `used` requests today."""
    path = get_settings().resolved_ratelimit_url()[len("sqlite:///") :]
    from crmsync.providers.limits import open_shared_limits

    open_shared_limits("sqlite:///" + path).close()  # create the tables
    day = datetime.now(ZoneInfo("America/Sao_Paulo")).date().isoformat()
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT OR REPLACE INTO crmsync_quota (key, day, used) VALUES (?, ?, ?)", (tenant_hash, day, used))


def _hash(tenant: Any) -> str:
    from crmsync.services.integracoes import credentials_hash

    return credentials_hash(tenant.access_token, tenant.secret_access_token)


def test_spaces_out_polls_when_full_scans_would_not_fit(rt_env: Env) -> None:
    from crmsync.runtime.queue import get_state

    tenant = make_tenant(
        "http://127.0.0.1:9",
        access_token="q1",
        secret_access_token="qs1",
        config={"intervalo_pull_minutos": 1},
    )
    # The last scans took 60 pages of clientes (6,000 records) and one page each of the rest.
    get_state().set_json(f"pullstats:{tenant.integracao_id}:cliente", {"paginas": 60})
    decision = Scheduler().tick()[0]
    assert decision.custo_varredura == 62
    assert decision.situacao == "espacado"
    assert decision.intervalo_efetivo_min == 5  # ceil(1440 * 62 / (27000 * 0.8))
    assert "de 1 para 5 minutos" in decision.motivo
    stored = get_state().get_json(f"sched:{tenant.integracao_id}")
    assert stored["situacao"] == "espacado" and stored["intervalo_efetivo_min"] == 5


def test_never_sends_the_request_that_would_exceed_the_quota(rt_env: Env, api_server: Any) -> None:
    left = 6  # requests the company may still send today
    with SandboxServer(
        access_token="q2", secret_access_token="qs2", daily_quota=left, seed=4, seed_records={"clientes": 450}
    ) as sb:
        tenant = make_tenant(sb.base_url, access_token="q2", secret_access_token="qs2")
        _spend_quota(_hash(tenant), BUDGET - left)
        install_listeners()
        api = api_server()
        headers = {"Authorization": f"Bearer {tenant.api_key}"}
        try:
            with EmbeddedRuntime(scheduler=True):
                # The first full scan (5 pages of clientes + produtos + vendas) needs more than the
                # 6 requests left: the quota guard stops it at the limit, and from then on the
                # scheduler defers scans to the provider's next day, saying why.
                def deferred() -> dict[str, Any] | None:
                    integ = _schedule(api.port, headers)
                    return integ if integ and integ["agendamento"]["situacao"] == "adiado" else None

                status = wait_for(deferred, what="scan deferred for lack of quota")
                assert "meia-noite" in status["agendamento"]["motivo"]
                assert status["requisicoes"]["restante_hoje"] < status["agendamento"]["custo_varredura"]
                # Local saves keep being accepted; pushes use what is left, then wait (not parked).
                ids = []
                for i in range(3):
                    r = httpx.post(
                        f"http://127.0.0.1:{api.port}/api/clientes",
                        headers=headers,
                        json={"nome": f"Cota {i}", "email": f"cota{i}@example.com"},
                        timeout=60,
                    )
                    assert r.status_code == 201
                    ids.append(r.json()["id"])

                def waiting() -> bool:
                    remote = {r.get("email") for r in sb.panel_list("clientes")}
                    with session_scope() as s:
                        items = {
                            i.entity_id: i
                            for i in s.scalars(
                                select(CrmItemFalho).where(
                                    CrmItemFalho.entity_id.in_(ids), CrmItemFalho.direcao == "push"
                                )
                            )
                        }
                    waits = [i for i in items.values() if i.status == "pendente" and "cota" in (i.ultimo_erro or "")]
                    pushed = [n for n in range(len(ids)) if f"cota{n}@example.com" in remote]
                    return bool(waits) and len(waits) + len(pushed) >= len(ids)

                wait_for(waiting, what="pushes waiting for the quota")
                time.sleep(1.0)  # a few more scheduler ticks and sweeps: still nothing may be sent
        finally:
            uninstall_listeners()
        company = next(iter(sb.stats()["companies"].values()))
        assert company["quota_exceeded"] == 0, company  # no request beyond the quota reached the CRM
        assert company["requests_today"] == left
        with session_scope() as s:
            # A quota refusal is not the item's fault: nothing is parked as failed.
            assert not s.scalars(select(CrmItemFalho).where(CrmItemFalho.status == "falhou")).all()


def _schedule(port: int, headers: dict[str, str]) -> dict[str, Any] | None:
    body = httpx.get(f"http://127.0.0.1:{port}/api/crm/status", headers=headers, timeout=60).json()
    integ = body["integracoes"][0]
    return integ if integ.get("agendamento") else None


def test_direct_writes_are_swept_without_provider_requests_when_nothing_changed(rt_env: Env) -> None:
    """The local sweep costs no quota: unchanged rows are not pushed again."""
    from crmsync.runtime.jobs import push_record, reconcile

    with SandboxServer(access_token="q3", secret_access_token="qs3") as sb:
        tenant = make_tenant(sb.base_url, access_token="q3", secret_access_token="qs3")
        local_id = insert_cliente(tenant.loja_id, "Parada", "parada@example.com")
        assert push_record(tenant.integracao_id, "cliente", local_id) == "create"
        before = sb.stats()["total_requests"]
        reconcile(tenant.integracao_id, remote=False)
        reconcile(tenant.integracao_id, remote=False, full_scan=True)
        from crmsync.runtime.queue import get_huey

        assert get_huey().pending_count() == 0  # nothing dirty: nothing queued
        assert sb.stats()["total_requests"] == before


def test_a_tick_counts_every_integrations_links_in_one_statement_then_reuses_it(rt_env: Env) -> None:
    """The scan's size comes from the links counted per integration and entity: with 50 stores
    that was 150 counting statements every 5 s, now one per minute."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    from crmsync.runtime.scheduler import LINK_COUNT_SECONDS

    tenants = [make_tenant("http://127.0.0.1:9", nome=f"Contagem {i}") for i in range(4)]
    counted: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "count(crm_entity_links.id)" in statement:
            counted.append(statement)

    event.listen(Engine, "before_cursor_execute", seen)  # whichever engine the scheduler opens
    try:
        scheduler = Scheduler()
        now = time.time()
        first = scheduler.tick(now)
        assert len(counted) == 1
        scheduler.tick(now + 5)  # the next tick reuses the counts
        assert len(counted) == 1
        scheduler.tick(now + LINK_COUNT_SECONDS)  # a minute later they are counted again
        assert len(counted) == 2
    finally:
        event.remove(Engine, "before_cursor_execute", seen)
    assert {d.integracao_id for d in first} >= {t.integracao_id for t in tenants}
    assert all(d.custo_varredura >= 3 for d in first)  # one page at least per entity
