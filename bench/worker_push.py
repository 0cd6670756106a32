"""Benchmark: the job worker's CPU and SQL statements per automatic push of a new cliente.

Why: under the API's closed loop (bench/api_load.py) every `POST /api/clientes` queues a push
that creates the customer in the store's GestãoClick CRM, and on the shared 2-core machine the
worker's CPU per push is taken from the API's. This runs that job body (`push_record`, the
worker's path: integration load, breaker, locks, fair turn, engine, failed items, counters)
in this process, against a fresh PostgreSQL database, the Redis queue/state and a sandbox
GestãoClick, and reports this thread's CPU per push (`time.thread_time`: the sandbox answers
on its own threads), the SQL statements per push and the Redis commands per push.

    .venv/bin/python bench/worker_push.py --pushes 400
    .venv/bin/python bench/worker_push.py --pushes 400 --backend sqlite
    .venv/bin/python bench/worker_push.py --pushes 1 --show-sql      # one push's statements
    .venv/bin/python bench/worker_push.py --pushes 400 --profile /tmp/push.prof   # cProfile
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import tempfile
import time
import uuid
from typing import Any

from scale_env import postgres_and_redis, take_down


def setup_env(backend: str) -> str | None:
    for key in list(os.environ):
        if key.startswith("CRMSYNC_"):
            os.environ.pop(key)
    os.environ["CRMSYNC_DATA_DIR"] = tempfile.mkdtemp(prefix="crmsync-bench-push-")
    os.environ["CRMSYNC_LOG_LEVEL"] = "WARNING"
    if backend != "postgres":
        return None
    env, name = postgres_and_redis("bench_push")
    os.environ.update(env)
    return name


def teardown(pg_name: str | None) -> None:
    """Close the connections, drop the database and queue (PostgreSQL), remove the data dir."""
    from crmsync.db.session import dispose_engines

    dispose_engines()
    if pg_name is not None:
        take_down(pg_name)
    shutil.rmtree(os.environ["CRMSYNC_DATA_DIR"], ignore_errors=True)


def run(args: argparse.Namespace) -> dict[str, Any]:
    pg_name = setup_env(args.backend)
    try:
        return measure(args)
    finally:
        teardown(pg_name)


class Counts:
    """SQL statements (by first word) and Redis commands sent while ``on``."""

    def __init__(self, show: bool) -> None:
        self.on = False
        self.show = show
        self.statements: collections.Counter[str] = collections.Counter()
        self.redis = 0

    def install(self) -> None:
        from redis import Redis
        from sqlalchemy import Engine, event

        event.listen(Engine, "before_cursor_execute", self._statement)
        original = Redis.execute_command
        counts = self

        def counted(client: Any, *a: Any, **kw: Any) -> Any:
            if counts.on:
                counts.redis += 1
                if counts.show and counts.redis <= 25:
                    print("REDIS:", " ".join(str(x) for x in a)[:160])
            return original(client, *a, **kw)

        Redis.execute_command = counted  # type: ignore[method-assign]

    def _statement(self, _conn: Any, _cursor: Any, statement: str, *_a: Any) -> None:
        if self.on:
            self.statements[statement.split(None, 1)[0].upper()] += 1
            if self.show and sum(self.statements.values()) <= 40:
                print("SQL:", " ".join(statement.split())[:600])


def seed(stores: int, rows: int, base_url: str) -> list[tuple[int, int]]:
    """``stores`` stores, each with a GestãoClick integration (its own sandbox company), and
    ``rows`` new clientes spread over them: (integration, cliente id) of each."""
    from crmsync.db.session import session_scope
    from crmsync.services.integracoes import create_integracao
    from crmsync.services.local_data import create_record
    from crmsync.services.lojas import create_loja

    pairs: list[tuple[int, int]] = []
    with session_scope() as s:
        stores_ = []
        for i in range(stores):
            loja, _key = create_loja(s, f"Loja {i}")
            integ = create_integracao(
                s,
                loja_id=loja.id,
                provider="gestao_click",
                base_url=base_url,
                access_token=f"at-{i}",
                secret_access_token=f"as-{i}",
            )
            stores_.append((loja.id, integ.id))
    with session_scope() as s:
        for n in range(rows):
            loja_id, integ_id = stores_[n % stores]
            row = create_record(s, loja_id, "cliente", {"nome": f"Cliente {n}-{uuid.uuid4().hex[:6]}"})
            pairs.append((integ_id, int(row.id)))
    return pairs


def measure(args: argparse.Namespace) -> dict[str, Any]:
    from crmsync.cli.admin import migrate
    from crmsync.logs import configure
    from crmsync.runtime.jobs.push import push_record
    from crmsync.sandbox.config import CompanyCredentials
    from crmsync.sandbox.server import SandboxServer

    configure("WARNING")  # as the bench's `crmsync worker` runs
    migrate()
    companies = [CompanyCredentials(f"at-{i}", f"as-{i}", f"empresa-{i}") for i in range(args.stores)]
    sb = SandboxServer(companies=companies, rate_limit=0, daily_quota=10_000_000).start()
    try:
        rows = seed(args.stores, args.warmup + args.pushes, sb.base_url)
        counts = Counts(args.show_sql)
        if not args.no_count:
            counts.install()
        outcomes: collections.Counter[str] = collections.Counter()
        for integ_id, row_id in rows[: args.warmup]:
            outcomes[push_record(integ_id, "cliente", row_id)] += 1
        profiler = None
        if args.profile:
            import cProfile

            profiler = cProfile.Profile()
        counts.on = True
        cpu0, wall0, proc0 = time.thread_time(), time.perf_counter(), time.process_time()
        if profiler is not None:
            profiler.enable()
        for integ_id, row_id in rows[args.warmup :]:
            outcomes[push_record(integ_id, "cliente", row_id)] += 1
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(args.profile)
        cpu, wall = time.thread_time() - cpu0, time.perf_counter() - wall0
        proc = time.process_time() - proc0
        counts.on = False
        n = args.pushes
        return {
            "backend": args.backend,
            "pushes": n,
            "outcomes": dict(outcomes),
            "cpu_ms_per_push": round(1000 * cpu / n, 2),
            "wall_ms_per_push": round(1000 * wall / n, 2),
            "process_cpu_ms_per_push": round(1000 * proc / n, 2),  # with the sandbox's threads
            "sql_per_push": round(sum(counts.statements.values()) / n, 2),
            "sql_by_kind_per_push": {k: round(v / n, 2) for k, v in counts.statements.most_common()},
            "redis_per_push": round(counts.redis / n, 2),
            "loadavg": os.getloadavg(),
        }
    finally:
        sb.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--pushes", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--stores", type=int, default=50, help="stores, each its own CRM company (its own pace)")
    parser.add_argument("--backend", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument("--no-count", action="store_true", help="count no SQL statement nor Redis command")
    parser.add_argument("--show-sql", action="store_true", help="print the first measured push's statements")
    parser.add_argument("--profile", default="", help="write a cProfile of the measured pushes here")
    args = parser.parse_args()
    print(json.dumps(run(args)))


if __name__ == "__main__":
    main()
