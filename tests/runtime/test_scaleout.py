"""Two `crmsync worker` processes on Redis and PostgreSQL share the work: every job is done
once, both take part, the company's rate limit holds across both, and SIGTERM stops each
gracefully (exit code 0)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from crmsync.db.session import session_scope
from crmsync.db.sync import CrmEntityLink
from crmsync.sandbox.server import SandboxServer
from runtime.conftest import (
    Env,
    insert_clientes,
    make_tenant,
    wait_for,
)
from runtime.workers import WorkerProcess

N = 16


@pytest.mark.redis
@pytest.mark.postgres
def test_two_workers_on_redis_and_postgres_share_the_work(tmp_path: Path, pg_redis_env: Callable[..., Env]) -> None:
    from crmsync.runtime.jobs import enqueue_push
    from crmsync.runtime.queue import get_state

    env = pg_redis_env()
    workers: list[WorkerProcess] = []
    try:
        with SandboxServer(access_token="so1", secret_access_token="sso1", rate_limit=3) as sb:
            tenant = make_tenant(sb.base_url, access_token="so1", secret_access_token="sso1")
            ids = insert_clientes(tenant.loja_id, [(f"Escala {i}", f"escala{i}@example.com") for i in range(N)])
            queued = [enqueue_push(tenant.integracao_id, "cliente", i) for i in ids]
            again = [enqueue_push(tenant.integracao_id, "cliente", i) for i in ids]  # coalesced
            assert all(queued) and not any(again)

            workers = [
                WorkerProcess(env.vars, tmp_path, f"w{n}", concurrency=2, scheduler=False).start() for n in range(2)
            ]

            def linked() -> bool:
                with session_scope() as s:
                    return s.scalar(select(func.count(CrmEntityLink.id))) == N

            wait_for(linked, timeout=120, what="every record pushed")
            codes = [w.terminate() for w in workers]
            assert codes == [0, 0], [w.output()[-2000:] for w in workers]

            stats = sb.stats()
            company = next(iter(stats["companies"].values()))
            assert stats["routes"]["POST /clientes"]["requests"] == N  # each create sent exactly once
            emails = [r.get("email") for r in sb.panel_list("clientes")]
            assert len(emails) == len(set(emails)) == N
            assert company["max_requests_in_any_1s_window"] <= 3, company
            assert company["rate_limited"] == 0, company

            counters = get_state().counters("")
            assert counters.get("jobs:push_record:sucesso") == N
            per_worker = {k.split(":")[1] for k, v in counters.items() if k.startswith("worker:") and v > 0}
            assert len(per_worker) == 2, counters  # both processes took jobs
    finally:
        for w in workers:
            w.kill()


def test_sigterm_lets_the_running_job_finish_and_leaves_the_rest_queued(rt_env: Any, tmp_path: Path) -> None:
    from crmsync.runtime.jobs import enqueue_pull, enqueue_push
    from crmsync.runtime.locks import pull_key
    from crmsync.runtime.queue import get_huey, get_state

    with SandboxServer(access_token="gt1", secret_access_token="sgt1", seed=8, seed_records={"clientes": 450}) as sb:
        tenant = make_tenant(sb.base_url, access_token="gt1", secret_access_token="sgt1")
        ids = insert_clientes(tenant.loja_id, [(f"Fila {i}", f"fila{i}@example.com") for i in range(5)])
        assert enqueue_pull(tenant.integracao_id, "cliente")  # 5 pages at 3 req/s: a few seconds
        for i in ids:
            assert enqueue_push(tenant.integracao_id, "cliente", i, priority=-1)  # after the pull
        worker = WorkerProcess(rt_env.vars, tmp_path, "graceful", concurrency=1, scheduler=False).start()
        try:
            state = get_state()
            wait_for(
                lambda: state.is_locked(pull_key(tenant.integracao_id, "cliente")),
                timeout=60,
                step=0.01,
                what="pull running",
            )
            assert worker.terminate() == 0, worker.output()[-2000:]
        finally:
            worker.kill()
        with session_scope() as s:
            linked = s.scalar(select(func.count(CrmEntityLink.id)))
        assert linked == 450  # the running pull finished its work before the process exited
        assert get_huey().pending_count() == len(ids)  # the jobs not started stayed in the queue
        assert sb.stats()["routes"].get("POST /clientes", {}).get("requests", 0) == 0
