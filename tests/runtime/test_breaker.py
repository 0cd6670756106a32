"""The circuit breaker of a bad neighbour (issue #12): a CRM that hangs or refuses the
credentials costs the shared workers one job, then nothing until it may answer again.

Real parts only: the runtime state (SQLite file, Redis), the transport against a CRM that
accepts and never answers (`HungServer`), the sandbox, the real queue with the embedded
worker. No timed assertion: open periods are waited out with `wait_for`; what is asserted is
what reached the CRM (connections, requests) and what the jobs reported.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select

from crmsync.db.session import session_scope
from crmsync.db.sync import CrmEntityLink, CrmItemFalho
from crmsync.providers.transport import Transport, TransportError, timeouts_tried_once
from crmsync.runtime.breaker import (
    REASON_AUTH,
    REASON_UNREACHABLE,
    Gate,
    breaker_after,
    breaker_gate,
    breaker_key,
    release_probe,
)
from crmsync.runtime.state import RedisState, RuntimeState, SqliteState
from crmsync.sandbox.hung import HungServer
from crmsync.sandbox.server import SandboxServer
from tests.runtime.conftest import REDIS_URL, insert_clientes, make_tenant, redis_available, use_env, wait_for

TIMED_OUT = {"requests_sent": 1, "timeouts": 1, "by_status": {}}
REFUSED = {"requests_sent": 1, "by_status": {"401": 1}}
ANSWERED = {"requests_sent": 1, "by_status": {"200": 1}}


# ----------------------------------------------------------------------------- the state machine


def _two_states(kind: str, tmp_path: Path) -> tuple[RuntimeState, RuntimeState]:
    """Two handles on one store, as two threads (SQLite file) or two processes (Redis) have."""
    if kind == "sqlite":
        path = str(tmp_path / "q.db")
        return SqliteState(path), SqliteState(path)
    redis_available()
    name = f"brk{uuid.uuid4().hex[:8]}"
    return RedisState(REDIS_URL, namespace=name), RedisState(REDIS_URL, namespace=name)


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def test_open_one_probe_double_close_across_workers(kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRMSYNC_BREAKER_FIRST_SECONDS", "0.3")
    monkeypatch.setenv("CRMSYNC_BREAKER_MAX_SECONDS", "0.6")
    one, other = _two_states(kind, tmp_path)
    try:
        assert breaker_gate(one, 7, "c1").until is None  # closed: go
        breaker_after(one, 7, TIMED_OUT, "c1")  # no answer: open
        data = other.get_json(breaker_key(7))
        assert data["reason"] == REASON_UNREACHABLE and data["window"] == 0.3
        assert breaker_gate(other, 7, "c1").until is not None  # the other worker sees it open
        assert breaker_gate(one, 8, "c1").until is None  # another integration is not affected
        # once the open period is over, exactly one job (of either worker) is the probe
        first = wait_for(lambda: (g := breaker_gate(one, 7, "c1")).until is None and g, timeout=60, what="half-open")
        assert first.probe
        assert breaker_gate(other, 7, "c1").until is not None  # the probe is running: wait
        breaker_after(one, 7, TIMED_OUT, "c1")  # the probe found no answer: twice as long
        assert other.get_json(breaker_key(7))["window"] == 0.6
        wait_for(lambda: breaker_gate(other, 7, "c1").probe, timeout=60, what="second probe")
        breaker_after(other, 7, TIMED_OUT, "c1")
        assert one.get_json(breaker_key(7))["window"] == 0.6  # at most breaker_max_seconds
        # a probe that never reached the CRM frees the slot for the next job
        wait_for(lambda: breaker_gate(one, 7, "c1").probe, timeout=60, what="third probe")
        release_probe(one, 7)
        assert breaker_gate(other, 7, "c1").probe
        breaker_after(other, 7, {"requests_sent": 0, "by_status": {}}, "c1")  # asked nothing: no news
        assert one.get_json(breaker_key(7)) is not None
        assert breaker_gate(one, 7, "c1").probe
        breaker_after(one, 7, ANSWERED, "c1")  # an answer closes it
        assert other.get_json(breaker_key(7)) is None
        assert breaker_gate(other, 7, "c1") == Gate()
    finally:
        one.close()
        other.close()


def test_refused_credentials_keep_it_open_until_the_connection_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRMSYNC_BREAKER_FIRST_SECONDS", "0.1")
    state = SqliteState(str(tmp_path / "q.db"))
    breaker_after(state, 3, REFUSED, "old")
    gate = breaker_gate(state, 3, "old")
    assert gate.reason == REASON_AUTH and gate.until is not None
    assert state.get_json(breaker_key(3))["window"] == 3600.0  # an hour, not the first 0.1 s
    assert breaker_gate(state, 3, "new").until is None  # new tokens or address: go at once
    assert state.get_json(breaker_key(3)) is None
    # a 403 (one record or module the account may not see) does not pause the integration
    breaker_after(state, 4, {"requests_sent": 1, "by_status": {"403": 1}}, "c")
    assert state.get_json(breaker_key(4)) is None
    state.close()


# ----------------------------------------------------------------------------- a hung request


def test_inside_a_job_a_timed_out_request_is_not_sent_again() -> None:
    """Outside a job the transport repeats a timed-out GET (a person waits for an answer);
    inside one it gives up after the first timeout: one worker, one timeout."""
    with HungServer() as hung:
        plain = Transport(hung.base_url, budget_key="h", rate_limit_per_second=None, timeout=0.2, max_attempts=3)
        with plain, pytest.raises(TransportError) as info:
            plain.request("GET", "/clientes")
        assert info.value.timed_out and hung.accepted == 3
        in_job = Transport(hung.base_url, budget_key="h", rate_limit_per_second=None, timeout=0.2, max_attempts=3)
        with in_job, timeouts_tried_once(), pytest.raises(TransportError):
            in_job.request("GET", "/clientes")
        assert hung.accepted == 4


# ----------------------------------------------------------------------------- whole stores


def _linked(integracao_id: int) -> int:
    with session_scope() as s:
        return int(
            s.scalar(select(func.count(CrmEntityLink.id)).where(CrmEntityLink.id_integracao == integracao_id)) or 0
        )


def _counter(name: str) -> int:
    from crmsync.runtime.queue import get_state

    return get_state().counters(f"jobs:{name}").get(f"jobs:{name}", 0)


def test_a_store_whose_credentials_are_refused_stops_asking_until_they_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sqlite_url: str
) -> None:
    from crmsync.runtime import EmbeddedRuntime, uninstall_listeners
    from crmsync.runtime.jobs import enqueue_push, retry_failed
    from crmsync.services.integracoes import update_connection

    use_env(monkeypatch, tmp_path, sqlite_url)
    uninstall_listeners()
    with SandboxServer(access_token="bk1", secret_access_token="sbk1", rate_limit=0) as sb:
        store = make_tenant(sb.base_url, access_token="errado", secret_access_token="errado-tambem")
        ids = insert_clientes(store.loja_id, [(f"Recusa {i}", f"recusa{i}@example.com") for i in range(3)])
        with EmbeddedRuntime(workers=2, scheduler=False):
            assert enqueue_push(store.integracao_id, "cliente", ids[0])
            wait_for(lambda: _counter("push_record:erro") == 1, timeout=60, what="the first refusal")
            asked = sb.stats()["total_requests"]
            assert asked >= 1
            # the later jobs are deferred to the ledger without a request
            assert all(enqueue_push(store.integracao_id, "cliente", i) for i in ids[1:])
            wait_for(lambda: _counter("push_record:adiado") == 2, timeout=60, what="deferred pushes")
            assert sb.stats()["total_requests"] == asked
            with session_scope() as s:
                waiting = s.scalars(select(CrmItemFalho).where(CrmItemFalho.id_integracao == store.integracao_id)).all()
                assert {i.entity_id for i in waiting} == set(ids)
                assert all(i.status == "pendente" for i in waiting)
                assert sum("aguardando credenciais novas" in (i.ultimo_erro or "") for i in waiting) == 2
            # the right credentials: the breaker resets and the waiting items are due now
            with session_scope() as s:
                update_connection(s, store.integracao_id, access_token="bk1", secret_access_token="sbk1")
            assert retry_failed(store.integracao_id) == 3  # what the scheduler's retry job runs
            wait_for(lambda: _linked(store.integracao_id) == 3, timeout=60, what="every push after the fix")


def test_a_hung_store_opens_its_breaker_after_one_timeout_and_a_probe_closes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sqlite_url: str
) -> None:
    from crmsync.runtime import EmbeddedRuntime, uninstall_listeners
    from crmsync.runtime.jobs import enqueue_pull
    from crmsync.runtime.queue import get_state

    # The hung CRM costs one whole timeout; 0.5 s was also short enough for the real sandbox's
    # answers to miss on a loaded machine (the breaker then opened again after the recovery).
    use_env(monkeypatch, tmp_path, sqlite_url, CRMSYNC_HTTP_TIMEOUT_SECONDS="5")
    uninstall_listeners()
    with (
        HungServer() as hung,
        SandboxServer(access_token="bh1", secret_access_token="sbh1", rate_limit=0) as sb,
    ):
        for i in range(3):
            sb.panel_create("clientes", {"nome": f"Remoto {i}", "tipo_pessoa": "PF", "email": f"r{i}@example.com"})
        store = make_tenant(hung.base_url, access_token="bh1", secret_access_token="sbh1")
        with EmbeddedRuntime(workers=2, scheduler=False):
            assert enqueue_pull(store.integracao_id, "cliente")
            wait_for(lambda: _counter("pull_entity:erro") == 1, timeout=60, what="the hung pull")
            breaker = get_state().get_json(breaker_key(store.integracao_id))
            assert breaker["reason"] == REASON_UNREACHABLE
            assert hung.accepted == 1  # the timed-out request was not sent again
            # the CRM answers again, at the same address: a probe closes the breaker
            hung.recover(sb.base_url)

            def imported() -> bool:
                enqueue_pull(store.integracao_id, "cliente")  # the scheduler's next scans
                return _linked(store.integracao_id) == 3

            wait_for(imported, timeout=60, step=0.3, what="pulled once the CRM answers")

            def closed() -> bool:
                # The links can commit before the job that made them records its outcome, and
                # a loaded machine showed the breaker still there at that moment: wait for it.
                enqueue_pull(store.integracao_id, "cliente")
                return get_state().get_json(breaker_key(store.integracao_id)) is None

            wait_for(closed, timeout=60, step=0.3, what="the breaker closed once the CRM answers")
            assert hung.accepted == 1 and hung.max_open == 1
