"""Fair sharing between stores (issue #12, item 4): one running job per integration, a hung
store takes one worker at most, the others keep flowing; manual runs are jobs too.

Real parts only: the real queue (SQLite file with the embedded worker; Redis with two
`crmsync worker` processes over PostgreSQL), the sandbox on loopback for the healthy store,
and a CRM that accepts connections and never answers (`HungServer`) for the bad one. No
timed assertion: the hung CRM hangs for the whole test, so "the healthy store finished"
can only happen if it was never starved; `wait_for` timeouts only bound a hang.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select

from crmsync.db.session import session_scope
from crmsync.db.sync import CrmEntityLink
from crmsync.runtime.fairness import (
    MAX_BUSY_DELAY,
    IntegrationBusy,
    busy_delay,
    cooldown_after,
    cooldown_left,
    integration_turn,
)
from crmsync.runtime.state import SqliteState
from crmsync.sandbox.hung import HungServer
from crmsync.sandbox.server import SandboxServer
from tests.runtime.conftest import (
    Env,
    insert_clientes,
    make_tenant,
    use_env,
    wait_for,
)
from tests.runtime.workers import WorkerProcess

HEALTHY = 12
HUNG_JOBS = 4
# The hung CRM must outlast the test: each attempt waits this long for an answer. The hung
# job's turn must outlast it too: with the runtime tests' 4 s lock TTL, a heartbeat starved
# for 2.7 s on a loaded machine let the turn expire and a second worker take a hung job
# (this test is about the turn being held, not about its expiry).
HANG = {"CRMSYNC_HTTP_TIMEOUT_SECONDS": "300", "CRMSYNC_LOCK_TTL_SECONDS": "60"}


# ----------------------------------------------------------------------------- the core


@given(
    elapsed=st.floats(min_value=0, max_value=1e6, allow_nan=False),
    failed=st.booleans(),
    free=st.floats(min_value=0, max_value=1e3, allow_nan=False),
    factor=st.floats(min_value=0, max_value=10, allow_nan=False),
)
def test_only_a_slow_failure_earns_a_cooldown(elapsed: float, failed: bool, free: float, factor: float) -> None:
    pause = cooldown_after(elapsed, failed, free, factor)
    assert pause >= 0
    if not failed or elapsed <= free:
        assert pause == 0
    else:
        assert pause == elapsed * factor  # a hung store holds at most 1/(1+factor) of a worker


@given(
    base=st.floats(min_value=0.01, max_value=10, allow_nan=False),
    held=st.floats(min_value=0, max_value=1e6, allow_nan=False),
)
def test_a_waiting_job_stays_away_longer_the_longer_the_turn_is_held(base: float, held: float) -> None:
    delay = busy_delay(base, held)
    assert 0.5 * min(MAX_BUSY_DELAY, max(base, held / 2)) <= delay <= 1.5 * min(MAX_BUSY_DELAY, max(base, held / 2))
    assert delay <= 1.5 * MAX_BUSY_DELAY


def test_one_turn_per_integration_and_the_cooldown(tmp_path: Path) -> None:
    state = SqliteState(str(tmp_path / "q.db"))
    taken = time.monotonic()
    with integration_turn(state, 1, ttl=10):
        with pytest.raises(IntegrationBusy) as busy, integration_turn(state, 1, ttl=10):
            pass
        # busy_delay: the base (1 s) or half the time the turn was held, jittered by +-50%
        # (on a loaded machine "held" may be seconds by now).
        assert 0 < busy.value.retry_after <= 1.5 * max(1.0, (time.monotonic() - taken) / 2)
        with integration_turn(state, 2, ttl=10):  # another integration is not affected
            pass
    with integration_turn(state, 1, ttl=10):  # free again once released
        pass
    # A slow failure (here: over 0 s with free_seconds=0) puts the integration on a pause.
    with pytest.raises(RuntimeError), integration_turn(state, 1, ttl=10, free_seconds=0.0, cooldown_factor=1000):
        time.sleep(0.02)  # the failure takes time (the subject): 20 s of pause at least, not a few ms
        raise RuntimeError("CRM travado")
    assert cooldown_left(state, 1) > 0
    with pytest.raises(IntegrationBusy), integration_turn(state, 1, ttl=10):
        pass
    with integration_turn(state, 1, ttl=10, respect_cooldown=False):  # a person waiting may go
        pass
    state.close()


# ----------------------------------------------------------------------------- two stores


def _linked(integracao_id: int) -> int:
    with session_scope() as s:
        return int(
            s.scalar(select(func.count(CrmEntityLink.id)).where(CrmEntityLink.id_integracao == integracao_id)) or 0
        )


def _two_stores_one_hung(sandbox: SandboxServer, hung: HungServer) -> tuple[Any, Any]:
    """The hung store's pushes are queued FIRST, so without fair sharing every worker would
    take one of them and hang, and the healthy store would wait forever."""
    from crmsync.runtime.jobs import enqueue_push

    bad = make_tenant(hung.base_url, nome="Loja Travada")
    good = make_tenant(sandbox.base_url, nome="Loja Saudável", access_token="fa1", secret_access_token="sfa1")
    bad_ids = insert_clientes(bad.loja_id, [(f"Travado {i}", f"travado{i}@example.com") for i in range(HUNG_JOBS)])
    good_ids = insert_clientes(good.loja_id, [(f"Saudável {i}", f"saudavel{i}@example.com") for i in range(HEALTHY)])
    assert all(enqueue_push(bad.integracao_id, "cliente", i) for i in bad_ids)
    assert all(enqueue_push(good.integracao_id, "cliente", i) for i in good_ids)
    return bad, good


def test_a_hung_store_takes_one_worker_and_the_other_keeps_flowing_sqlite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sqlite_url: str
) -> None:
    from crmsync.runtime import EmbeddedRuntime, uninstall_listeners
    from crmsync.runtime.queue import get_state

    use_env(monkeypatch, tmp_path, sqlite_url, **HANG)
    uninstall_listeners()
    with (
        HungServer() as hung,
        SandboxServer(access_token="fa1", secret_access_token="sfa1", rate_limit=0) as sb,
    ):
        bad, good = _two_stores_one_hung(sb, hung)
        runtime = EmbeddedRuntime(workers=2, scheduler=False).start()
        try:
            wait_for(lambda: _linked(good.integracao_id) == HEALTHY, timeout=120, what="healthy store pushed")
            # The hung store is still hanging (its first job never got an answer) ...
            assert hung.open_now == 1 and _linked(bad.integracao_id) == 0
            # ... and it never had more than one worker.
            assert hung.max_open == 1 and hung.accepted == 1
            # (a job counts its outcome after its link commits: the last one may be a moment late)
            counters = wait_for(
                lambda: (
                    (c := get_state().counters("jobs:push_record:")).get("jobs:push_record:sucesso") == HEALTHY and c
                ),
                timeout=30,
                what="every healthy push counted",
            )
            assert counters.get("jobs:push_record:aguardando_vez", 0) >= 1  # the others yielded
        finally:
            hung.release()  # the hung answer is cut off: the job ends, the runtime stops
            runtime.stop()


@pytest.mark.postgres
@pytest.mark.redis
def test_a_hung_store_takes_one_worker_and_the_other_keeps_flowing_postgres_redis(
    tmp_path: Path, pg_redis_env: Callable[..., Env]
) -> None:
    from crmsync.runtime import uninstall_listeners

    env = pg_redis_env(**HANG)
    uninstall_listeners()
    workers: list[WorkerProcess] = []
    try:
        with (
            HungServer() as hung,
            SandboxServer(access_token="fa1", secret_access_token="sfa1", rate_limit=0) as sb,
        ):
            bad, good = _two_stores_one_hung(sb, hung)
            workers = [
                WorkerProcess(env.vars, tmp_path, f"w{n}", concurrency=1, scheduler=False).start() for n in range(2)
            ]
            wait_for(lambda: _linked(good.integracao_id) == HEALTHY, timeout=180, what="healthy store pushed")
            assert hung.open_now == 1 and _linked(bad.integracao_id) == 0
            assert hung.max_open == 1 and hung.accepted == 1
            hung.release()
            for w in workers:
                w.kill()
    finally:
        for w in workers:
            w.kill()


# ----------------------------------------------------------------------------- manual runs as jobs


def test_manual_sync_from_the_api_is_a_job_with_a_readable_status(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sqlite_url: str, api_server: Any
) -> None:
    from crmsync.runtime import EmbeddedRuntime

    use_env(monkeypatch, tmp_path, sqlite_url)
    with SandboxServer(access_token="fm1", secret_access_token="sfm1", rate_limit=0) as sb:
        store = make_tenant(sb.base_url, nome="Loja Manual", access_token="fm1", secret_access_token="sfm1")
        other = make_tenant(sb.base_url, nome="Outra Loja")
        ids = insert_clientes(store.loja_id, [("Ana Manual", "ana@example.com")])
        server = api_server()
        auth = {"Authorization": f"Bearer {store.api_key}"}
        with httpx.Client(base_url=f"http://127.0.0.1:{server.port}", headers=auth, timeout=30) as client:
            # No worker yet: the run is queued, answered 202 with its id, and stays queued.
            resp = client.post("/api/crm/sync", json={"entidades": ["cliente"]})
            assert resp.status_code == 202, resp.text
            job = resp.json()
            assert job["status"] == "na_fila" and resp.headers["location"] == f"/api/crm/jobs/{job['id']}"
            assert client.get(f"/api/crm/jobs/{job['id']}").json()["status"] == "na_fila"
            assert _linked(store.integracao_id) == 0
            # Another store cannot read it; a malformed id is a 404 too.
            other_auth = {"Authorization": f"Bearer {other.api_key}"}
            assert client.get(f"/api/crm/jobs/{job['id']}", headers=other_auth).status_code == 404
            assert client.get("/api/crm/jobs/nao-existe").status_code == 404
            # Refusals happen before anything is queued.
            assert client.post(f"/api/crm/sync/cliente/{ids[0] + 999}").status_code == 404
            assert client.post("/api/crm/sync/import/fornecedor").status_code == 404
            with EmbeddedRuntime(workers=1, scheduler=False):
                done = wait_for(
                    lambda: (v := client.get(f"/api/crm/jobs/{job['id']}").json())["status"] == "concluido" and v,
                    timeout=60,
                    what="manual job done",
                )
            assert done["sucesso"] is True and done["resultado"]["para_crm"]["sucessos"] == 1
            assert _linked(store.integracao_id) == 1
            # The old synchronous shape stays available for the PHP ERP.
            sync = client.post(f"/api/crm/sync/cliente/{ids[0]}?esperar=true")
            assert sync.status_code == 200 and {"success", "operacao", "external_id"} <= set(sync.json())


def test_a_manual_run_waits_for_its_integrations_turn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sqlite_url: str
) -> None:
    """`?esperar=true` and the CLI take the same turn as the jobs: while a job of the
    integration runs, a manual run of it answers 503 with Retry-After, changing nothing."""
    from crmsync.runtime.fairness import turn_key
    from crmsync.runtime.locks import hold
    from crmsync.runtime.queue import get_state
    from crmsync.services.sync import ProviderUnavailableError, push_record

    use_env(monkeypatch, tmp_path, sqlite_url, CRMSYNC_MANUAL_TURN_WAIT_SECONDS="0.2")
    with SandboxServer(access_token="fw1", secret_access_token="sfw1", rate_limit=0) as sb:
        store = make_tenant(sb.base_url, access_token="fw1", secret_access_token="sfw1")
        (cid,) = insert_clientes(store.loja_id, [("Bia Espera", "bia@example.com")])
        with hold(get_state(), [turn_key(store.integracao_id)], ttl=30):
            with pytest.raises(ProviderUnavailableError) as exc:
                push_record(store.loja_id, "cliente", cid)
            assert exc.value.status_code == 503 and exc.value.retry_after
            assert _linked(store.integracao_id) == 0
            assert "POST /clientes" not in sb.stats()["routes"]  # nothing was sent
        assert push_record(store.loja_id, "cliente", cid).success
        assert _linked(store.integracao_id) == 1
