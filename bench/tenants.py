"""Benchmark: many stores on one crmsync, with and without bad neighbours (issue #12).

Why: one store's CRM failing or hanging must not reach the others. `--stores` stores (50 by
default), each with its own company in ONE sandbox process (own tokens, 3 req/s, daily
quota, own records); all but two are healthy and keep editing on both sides: local saves
through the real API (`PUT /api/clientes/{id}`, pushed by the automatic push) and edits in
the CRM (the sandbox's panel, pulled back). Two phases of `--phase-seconds` each run the
same load:

- `sozinhos`: only the healthy stores;
- `com_vizinhos`: plus one store whose CRM hangs (accepts and never answers: a `HungServer`
  in this process, since a hang is a property of the address, not of a company) and one
  whose CRM refuses its credentials (401 from the same sandbox), both also saving.

Per healthy store it reports the local write latency p99 (the API's answer) and the sync
lag p95 (a save until the other side shows it, either direction), per phase; the target is
that the pooled write p99 and lag p95 of the healthy stores move by at most 20% between
phases, and that no write fails. Pulls are queued every `--pull-every` seconds for every
store (the scheduler's minimum interval is a minute: too slow for a short run).

    .venv/bin/python bench/tenants.py                                   # SQLite, embedded worker (2 threads)
    .venv/bin/python bench/tenants.py --backend postgres --workers 2    # PostgreSQL + Redis, 2 `crmsync worker`
    .venv/bin/python bench/tenants.py --control                         # A/A: no bad neighbours in either phase

The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
REDIS_URL = "redis://127.0.0.1:6379/0"
RECORDS_PER_STORE = 4


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q * (len(ordered) - 1))))
    return ordered[k]


@dataclass
class Store:
    loja_id: int
    key: str
    integracao_id: int
    company: str | None  # the sandbox company; None for the bad neighbours
    kind: str  # saudavel | travada | falhando
    ids: list[int] = field(default_factory=list)
    ext: dict[int, str] = field(default_factory=dict)


@dataclass
class Phase:
    writes: dict[int, list[float]] = field(default_factory=lambda: defaultdict(list))
    lags: dict[int, list[float]] = field(default_factory=lambda: defaultdict(list))
    lag_by_way: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    failed_writes: int = 0
    unsynced: int = 0
    skipped_saves: int = 0  # local saves not made: every record of the store had an edit in flight
    raced_edits: int = 0  # CRM edits not made: the record's local save had not been answered yet
    # each edit still unsynced after the settle: what was expected, what each side holds, the
    # link's status and the record's pending conflicts (why it never arrived)
    unsynced_detail: list[dict[str, Any]] = field(default_factory=list)


def setup_env(backend: str) -> dict[str, str]:
    workdir = tempfile.mkdtemp(prefix="crmsync-bench-tenants-")
    # the breaker and the timeouts at their production defaults: they are what is measured
    env = {"CRMSYNC_DATA_DIR": workdir, "CRMSYNC_LOG_LEVEL": "ERROR"}
    for key in ("CRMSYNC_DATABASE_URL", "CRMSYNC_QUEUE_URL", "CRMSYNC_RATELIMIT_URL"):
        os.environ.pop(key, None)
    if backend == "postgres":
        from sqlalchemy import create_engine, text

        name = f"bench_tenants_{uuid.uuid4().hex[:8]}"
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        env["CRMSYNC_DATABASE_URL"] = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
        env["CRMSYNC_QUEUE_URL"] = f"{REDIS_URL}?queue=bench{uuid.uuid4().hex[:8]}"
        env["CRMSYNC_RATELIMIT_URL"] = REDIS_URL
    os.environ.update(env)
    return env


def run(args: argparse.Namespace) -> dict[str, Any]:  # noqa: C901 - one linear script: set up, seed, two phases, tear down
    env = setup_env(args.backend)
    import httpx
    from sqlalchemy import select

    from crmsync.cli.admin import migrate
    from crmsync.cli.demo import _ApiServer, _free_port
    from crmsync.db.session import session_scope
    from crmsync.db.sync import CrmEntityLink
    from crmsync.logs import configure
    from crmsync.runtime import install_listeners
    from crmsync.runtime.jobs import enqueue_pull
    from crmsync.sandbox.config import CompanyCredentials
    from crmsync.sandbox.hung import HungServer
    from crmsync.sandbox.server import SandboxServer
    from crmsync.services.integracoes import create_integracao, set_active
    from crmsync.services.lojas import create_loja

    configure("ERROR")
    migrate()
    healthy_n = args.stores - 2
    companies = [CompanyCredentials(f"bt-{i}", f"bs-{i}", f"empresa-{i}") for i in range(healthy_n)]
    sb = SandboxServer(companies=companies, rate_limit=3, daily_quota=30000).start()
    hung = HungServer().start()
    stores: list[Store] = []
    with session_scope() as s:
        for i in range(args.stores):
            kind = "saudavel" if i < healthy_n else ("travada" if i == healthy_n else "falhando")
            loja, key = create_loja(s, f"Loja {i} ({kind})")
            base = hung.base_url if kind == "travada" else sb.base_url
            tokens = (f"bt-{i}", f"bs-{i}") if kind == "saudavel" else (f"x-{i}", f"y-{i}")
            integ = create_integracao(
                s,
                loja_id=loja.id,
                provider="gestao_click",
                base_url=base,
                access_token=tokens[0],
                secret_access_token=tokens[1],
            )
            company = f"empresa-{i}" if kind == "saudavel" else None
            stores.append(Store(loja.id, key, integ.id, company, kind))
    healthy = [st for st in stores if st.kind == "saudavel"]
    bad = [st for st in stores if st.kind != "saudavel"]

    install_listeners()
    api = _ApiServer(_free_port())
    api.start()
    base_url = f"http://127.0.0.1:{api.port}/api/clientes"
    workers: list[subprocess.Popen[bytes]] = []
    runtime = None
    if args.backend == "sqlite":
        from crmsync.runtime.embedded import EmbeddedRuntime

        runtime = EmbeddedRuntime(workers=args.workers, scheduler=False).start()
    else:
        code = "from crmsync.cli import app; app()"
        for _ in range(args.workers):
            cmd = [sys.executable, "-c", code, "worker", "--concurrency", str(args.threads), "--no-scheduler"]
            workers.append(subprocess.Popen(cmd, env={**os.environ, **env}))
    client = httpx.Client(timeout=60)
    try:
        # Seed: a few customers per store, created through the API and pushed.
        for st in bad:
            with session_scope() as s:
                set_active(s, st.integracao_id, False)
        for st in stores:
            for r in range(RECORDS_PER_STORE):
                resp = client.post(
                    base_url,
                    json={"nome": f"Cliente {st.loja_id}-{r}", "email": f"c{st.loja_id}x{r}@example.com"},
                    headers={"Authorization": f"Bearer {st.key}"},
                )
                resp.raise_for_status()
                st.ids.append(int(resp.json()["id"]))
        deadline = time.monotonic() + 600
        while True:
            with session_scope() as s:
                rows = s.execute(
                    select(CrmEntityLink.id_integracao, CrmEntityLink.entity_id, CrmEntityLink.external_id)
                ).all()
            by_integ: dict[int, dict[int, str]] = defaultdict(dict)
            for integ_id, entity_id, ext in rows:
                by_integ[integ_id][entity_id] = ext
            if all(len(by_integ[st.integracao_id]) == RECORDS_PER_STORE for st in healthy):
                break
            if time.monotonic() > deadline:
                raise SystemExit("seed did not sync in time")
            time.sleep(0.5)
        for st in healthy:
            st.ext = by_integ[st.integracao_id]
        print(f"{len(stores)} lojas semeadas ({RECORDS_PER_STORE} clientes cada)", flush=True)

        phases: dict[str, Phase] = {}
        for name, with_bad in (("sozinhos", False), ("com_vizinhos", not args.control)):
            if with_bad:
                for st in bad:
                    with session_scope() as s:
                        set_active(s, st.integracao_id, True)
            phases[name] = run_phase(args, client, base_url, sb, healthy, bad if with_bad else [], enqueue_pull)
            p = phases[name]
            pooled_w = [v for vs in p.writes.values() for v in vs]
            pooled_l = [v for vs in p.lags.values() for v in vs]
            print(
                f"{name}: {len(pooled_w)} escritas, p99 {pct(pooled_w, 0.99) * 1000:.1f} ms, "
                f"falhas {p.failed_writes}; lag p95 {pct(pooled_l, 0.95):.2f} s ({len(pooled_l)} medidas, "
                f"{p.unsynced} não sincronizadas a tempo)",
                flush=True,
            )
        hung_max = hung.max_open
        sb_stats = sb.stats()
    finally:
        client.close()
        hung.release()
        if runtime is not None:
            runtime.stop(graceful=False)
        for w in workers:
            w.kill()
            w.wait(30)
        api.stop()
        sb.stop()
        hung.stop()
    return summarize(args, phases, healthy, hung_max, sb_stats)


def run_phase(  # noqa: C901 - the phase's threads are closures over its shared state
    args: argparse.Namespace,
    client: Any,
    base_url: str,
    sb: Any,
    healthy: list[Store],
    bad: list[Store],
    enqueue_pull: Any,
) -> Phase:
    """One phase: local saves and CRM edits on every healthy store, saves on the bad ones,
    pulls queued for all; lags watched until they settle (or `--settle` seconds pass)."""
    from sqlalchemy import select

    from crmsync.db.local import Cliente
    from crmsync.db.session import session_scope

    phase = Phase()
    rnd = random.Random(7)
    lock = threading.Lock()
    # pending: (store, local id) -> (kind, value, t0); a newer edit of a record supersedes.
    pending: dict[tuple[int, int], tuple[str, str, float]] = {}
    stop = threading.Event()
    seq = [0]
    saving: set[tuple[int, int]] = set()  # local saves whose PUT has not answered yet

    def save_local(st: Store, measured: bool) -> None:
        # A record with an edit in flight on the other side would make this save a real
        # conflict (both sides changed `nome`; the later one wins and the other edit is never
        # seen): pick one with no CRM edit pending, and reserve it (`saving`) before the PUT,
        # so the CRM editor cannot pick it while the API has not answered yet.
        with lock:
            mine = [i for i in st.ids if (st.loja_id, i) not in saving]
            free = [i for i in mine if (st.loja_id, i) not in pending]
            free = free or [i for i in mine if pending[(st.loja_id, i)][0] == "push"]  # supersede our own
            if not free:
                phase.skipped_saves += int(measured)
                return
            local_id = rnd.choice(free)
            saving.add((st.loja_id, local_id))
        seq[0] += 1
        nome = f"Local {st.loja_id} {local_id} v{seq[0]}"
        t0 = time.monotonic()
        try:
            resp = client.put(
                f"{base_url}/{local_id}", json={"nome": nome}, headers={"Authorization": f"Bearer {st.key}"}
            )
            ok = resp.status_code == 200
        except Exception:
            ok = False
        took = time.monotonic() - t0
        with lock:
            saving.discard((st.loja_id, local_id))
        if not measured:
            return
        with lock:
            if not ok:
                phase.failed_writes += 1
                return
            phase.writes[st.loja_id].append(took)
            pending[(st.loja_id, local_id)] = ("push", nome, time.monotonic())

    def save_remote(st: Store) -> None:
        local_id = rnd.choice(st.ids)
        seq[0] += 1
        nome = f"Remoto {st.loja_id} {local_id} v{seq[0]}"
        with lock:
            if (st.loja_id, local_id) in saving:
                phase.raced_edits += 1  # the race that left an edit unsynced before (docs/benchmarks.md)
                return
            if (st.loja_id, local_id) in pending:
                return  # a save of this record is in flight: do not race it here
            pending[(st.loja_id, local_id)] = ("pull", nome, time.monotonic())
        sb.panel_update("clientes", st.ext[local_id], {"nome": nome}, company=st.company)

    def writer() -> None:
        everyone = [(st, True) for st in healthy] + [(st, False) for st in bad]
        period = args.write_every / max(1, len(everyone))
        n = 0
        start = time.monotonic()
        while not stop.is_set():
            st, measured = everyone[n % len(everyone)]
            save_local(st, measured)
            n += 1
            time.sleep(max(0.0, start + n * period - time.monotonic()))

    def remote_editor() -> None:
        period = args.remote_every / max(1, len(healthy))
        n = 0
        start = time.monotonic()
        while not stop.is_set():
            save_remote(healthy[n % len(healthy)])
            n += 1
            time.sleep(max(0.0, start + n * period - time.monotonic()))

    def puller() -> None:
        while not stop.wait(args.pull_every):
            for st in healthy + bad:
                enqueue_pull(st.integracao_id, "cliente", trigger="cron")

    by_loja = {st.loja_id: st for st in healthy}

    def watcher(until: threading.Event) -> None:
        while not until.is_set():
            with lock:
                items = list(pending.items())
            if not items:
                time.sleep(0.1)
                continue
            local_names: dict[int, str] = {}
            with session_scope() as s:
                ids = [lid for (_loja, lid), _v in items]
                for row_id, nome in s.execute(select(Cliente.id, Cliente.nome).where(Cliente.id.in_(ids))).all():
                    local_names[row_id] = nome
            for (loja_id, local_id), (kind, nome, t0) in items:
                st = by_loja[loja_id]
                if kind == "push":
                    seen = sb.panel_get("clientes", st.ext[local_id], company=st.company).get("nome") == nome
                else:
                    seen = local_names.get(local_id) == nome
                if seen:
                    with lock:
                        if pending.get((loja_id, local_id), (None, None, None))[1] == nome:
                            pending.pop((loja_id, local_id))
                            phase.lags[loja_id].append(time.monotonic() - t0)
                            phase.lag_by_way[kind].append(time.monotonic() - t0)
            time.sleep(0.1)

    watch_stop = threading.Event()
    threads = [threading.Thread(target=f, daemon=True) for f in (writer, remote_editor, puller)]
    watch = threading.Thread(target=watcher, args=(watch_stop,), daemon=True)
    for t in [*threads, watch]:
        t.start()
    time.sleep(args.phase_seconds)
    stop.set()
    for t in threads:
        t.join(60)
    settle_until = time.monotonic() + args.settle
    while time.monotonic() < settle_until:
        for st in healthy:
            enqueue_pull(st.integracao_id, "cliente", trigger="cron")
        with lock:
            if not pending:
                break
        time.sleep(1.0)
    watch_stop.set()
    watch.join(30)
    with lock:
        phase.unsynced = len(pending)
        left = dict(pending)
    phase.unsynced_detail = _unsynced_detail(sb, by_loja, left)
    return phase


def _unsynced_detail(
    sb: Any, by_loja: dict[int, Store], left: dict[tuple[int, int], tuple[str, str, float]]
) -> list[dict[str, Any]]:
    """For each edit still unsynced: both sides' current name, the link and its conflicts."""
    from sqlalchemy import select

    from crmsync.db.local import Cliente
    from crmsync.db.session import session_scope
    from crmsync.db.sync import CrmConflito, CrmEntityLink

    out = []
    for (loja_id, local_id), (kind, nome, _t0) in left.items():
        st = by_loja[loja_id]
        with session_scope() as s:
            local = s.scalar(select(Cliente.nome).where(Cliente.id == local_id))
            link = s.scalars(
                select(CrmEntityLink).where(
                    CrmEntityLink.id_integracao == st.integracao_id, CrmEntityLink.entity_id == local_id
                )
            ).first()
            conflicts = [
                {"status": c.status, "campos": c.campos}
                for c in s.scalars(
                    select(CrmConflito).where(
                        CrmConflito.id_integracao == st.integracao_id, CrmConflito.entity_id == local_id
                    )
                )
            ]
        out.append(
            {
                "loja": loja_id,
                "cliente": local_id,
                "way": kind,
                "expected": nome,
                "local": local,
                "crm": sb.panel_get("clientes", st.ext[local_id], company=st.company).get("nome"),
                "link_status": link.status if link is not None else None,
                "conflicts": conflicts,
            }
        )
    return out


def summarize(
    args: argparse.Namespace, phases: dict[str, Phase], healthy: list[Store], hung_max: int, sb_stats: dict[str, Any]
) -> dict[str, Any]:
    alone, crowded = phases["sozinhos"], phases["com_vizinhos"]
    per_store = []
    for st in healthy:
        per_store.append(
            {
                "loja": st.loja_id,
                "escrita_p99_ms": [round(pct(p.writes[st.loja_id], 0.99) * 1000, 1) for p in (alone, crowded)],
                "lag_p95_s": [round(pct(p.lags[st.loja_id], 0.95), 2) for p in (alone, crowded)],
            }
        )

    def pooled(p: Phase, attr: str) -> list[float]:
        return [v for vs in getattr(p, attr).values() for v in vs]

    w = [pct(pooled(p, "writes"), 0.99) * 1000 for p in (alone, crowded)]
    lag = [pct(pooled(p, "lags"), 0.95) for p in (alone, crowded)]
    w_change = (w[1] - w[0]) / w[0] if w[0] else float("nan")
    lag_change = (lag[1] - lag[0]) / lag[0] if lag[0] else float("nan")
    failed = alone.failed_writes + crowded.failed_writes
    rate_limited = sum(int(c.get("rate_limited", 0)) for c in sb_stats.get("companies", {}).values())
    result = {
        "benchmark": "tenants",
        "backend": "sqlite+embedded" if args.backend == "sqlite" else "postgres+redis",
        "workers": args.workers,
        "threads_per_worker": args.threads if args.backend == "postgres" else 1,
        "stores": args.stores,
        "sandbox": "one process, one company per healthy store (3 req/s, own quota and data)",
        "hung_crm": "HungServer in the bench process (accepts, never answers)",
        "phase_seconds": args.phase_seconds,
        "control_run": args.control,
        "write_p99_ms": [round(x, 1) for x in w],
        "lag_p95_s": [round(x, 2) for x in lag],
        "push_lag_p95_s": [round(pct(p.lag_by_way["push"], 0.95), 2) for p in (alone, crowded)],
        "pull_lag_p95_s": [round(pct(p.lag_by_way["pull"], 0.95), 2) for p in (alone, crowded)],
        "write_p99_change": round(w_change, 3),
        "lag_p95_change": round(lag_change, 3),
        "failed_writes": failed,
        "unsynced_after_settle": [alone.unsynced, crowded.unsynced],
        "skipped_saves": [alone.skipped_saves, crowded.skipped_saves],
        "raced_edits": [alone.raced_edits, crowded.raced_edits],
        "unsynced_detail": [alone.unsynced_detail, crowded.unsynced_detail],
        "hung_crm_max_connections": hung_max,
        "sandbox_429": rate_limited,
        "per_store_alone_vs_crowded": per_store,
    }
    # the target is a ceiling: the bad neighbours may not make the healthy stores slower by more than 20%
    result["ok"] = w_change <= 0.2 and lag_change <= 0.2 and failed == 0
    print(
        f"escrita p99 {w[0]:.1f} -> {w[1]:.1f} ms ({w_change:+.0%}), lag p95 {lag[0]:.2f} -> {lag[1]:.2f} s "
        f"({lag_change:+.0%}), escritas com falha {failed}, conexões simultâneas no CRM travado {hung_max}",
        flush=True,
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--stores", type=int, default=50, help="stores in all (two of them are the bad neighbours)")
    parser.add_argument("--workers", type=int, default=2, help="worker threads (sqlite) or `crmsync worker` processes")
    parser.add_argument("--threads", type=int, default=2, help="threads of each `crmsync worker` (postgres)")
    parser.add_argument("--phase-seconds", type=float, default=60.0, help="load time of each phase")
    parser.add_argument("--write-every", type=float, default=20.0, help="seconds between local saves of one store")
    parser.add_argument("--remote-every", type=float, default=40.0, help="seconds between CRM edits of one store")
    parser.add_argument("--pull-every", type=float, default=30.0, help="seconds between queued pulls of every store")
    parser.add_argument(
        "--control",
        action="store_true",
        help="A/A run: the second phase without the bad neighbours too (how much the figures move by noise alone)",
    )
    parser.add_argument("--settle", type=float, default=60.0, help="seconds to wait for the last edits to sync")
    args = parser.parse_args()
    if args.stores < 3:
        parser.error("--stores must be at least 3")
    summary = run(args)
    sys.stdout.write(json.dumps(summary) + "\n")
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
