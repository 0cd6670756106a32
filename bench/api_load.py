"""Benchmark: many simultaneous API clients across 50 stores, one store's CRM hung (issue #20).

Why: the API is what the ERP calls on every save, from every store, all day. A burst must get
200s and quick 503s (with Retry-After), never a 500 and never a hang, and one store's hung
CRM must not slow the others' saves.

`--clients` closed-loop clients (each bound to one store, `client % stores`) run for
`--duration` seconds against a real `crmsync serve` in its own process(es): 80% reads
(`GET /api/clientes?limit=1`), 20% writes (`POST /api/clientes`, which queues the automatic
push to the store's CRM). Every store has a GestãoClick integration on ONE sandbox process
(own company and tokens), except store 0, whose CRM is a `HungServer` (accepts, never
answers), unless `--no-hung`. The clients are asyncio, one keep-alive connection each (a
small HTTP/1.1 client of the bench's own, see `Connection`), spread over
`--client-processes` processes (one cannot drive hundreds of connections on a loaded
machine), each request with a `--client-timeout` deadline (past it: a timeout).

Backends:

- `sqlite` (default): `crmsync serve` as a new user runs it (SQLite files, embedded worker);
- `postgres`: a fresh PostgreSQL database + Redis queue, `crmsync serve --workers
  --serve-processes --no-worker` and `--job-workers` `crmsync worker` processes.

Two kinds of load. With no `--think-ms` (the default) the clients are a closed loop: each
sends its next request as soon as the last one answers, the stress test (latency = N /
throughput). With `--think-ms M` each client pauses an exponential time of mean M ms after
each answer, and before its first request (so they do not all start in the same
millisecond, which the closed loop does on purpose): an ERP user who saves, waits, then
works before the next save (what the API really serves). docs/benchmarks.md labels which is which.

Reports throughput, statuses (2xx / 503 / other 4xx / 5xx / timeouts), p50/p99 overall, of the
healthy stores (reads and writes apart), of the hung store, the spread of the healthy
stores' own p99s, and the CPU used per request by `serve`, the job workers and the clients
(from /proc and process_time: what each used, whatever else the machine ran), the pushes the
job workers finished during the load and, after it, how long they took to push the rest (every
healthy store's customer in its CRM: the sync lag of the last save). The last line printed is
JSON.

    .venv/bin/python bench/api_load.py --clients 100 --duration 60
    .venv/bin/python bench/api_load.py --clients 300 --backend postgres --serve-processes 2 --api-concurrency 16
    ... --no-hung      # the same without the hung CRM (the control run)
    .venv/bin/python bench/api_load.py --clients 300 --backend postgres --serve-processes 2 --think-ms 1000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from scale_env import postgres_and_redis, take_down

CRMSYNC = str(Path(sys.executable).parent / "crmsync")


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(q * (len(ordered) - 1))))]


def ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def setup_env(args: argparse.Namespace) -> tuple[dict[str, str], str | None]:
    workdir = tempfile.mkdtemp(prefix="crmsync-bench-api-")
    env = {"CRMSYNC_DATA_DIR": workdir, "CRMSYNC_LOG_LEVEL": "WARNING"}
    for key in list(os.environ):
        if key.startswith("CRMSYNC_"):
            os.environ.pop(key)
    if args.api_concurrency:
        env["CRMSYNC_API_CONCURRENCY"] = str(args.api_concurrency)
    pg_name = None
    if args.backend == "postgres":
        scale, pg_name = postgres_and_redis("bench_api")
        env.update(scale)
    os.environ.update(env)
    return env, pg_name


def unsynced_customers(lojas: list[int]) -> dict[str, int]:
    """Of the customers the healthy stores hold when the load stops, how many have no link to
    their CRM yet: the automatic pushes still queued (what the job workers owe)."""
    from sqlalchemy import func, select

    from crmsync.db.local import Cliente
    from crmsync.db.session import session_scope
    from crmsync.db.sync import CrmEntityLink

    with session_scope() as s:
        total = s.scalar(select(func.count()).select_from(Cliente).where(Cliente.id_loja.in_(lojas))) or 0
        linked = s.scalar(
            select(func.count())
            .select_from(CrmEntityLink)
            .where(CrmEntityLink.id_loja.in_(lojas), CrmEntityLink.entity_type == "cliente")
        )
    return {"customers": int(total), "not_yet_in_crm": int(total) - int(linked or 0)}


def drain_seconds(lojas: list[int], timeout: float) -> float | None:
    """Seconds after the load stopped until every healthy store's customer is in its CRM (the
    sync lag of the last save made under the load); None if not within `timeout`."""
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        if unsynced_customers(lojas)["not_yet_in_crm"] == 0:
            return round(time.monotonic() - began, 1)
        time.sleep(1.0)
    return None


def tree_cpu_seconds(root: int) -> float:
    """CPU (user + system) used so far by process `root` and every live descendant (uvicorn's
    `--workers` are children of the `serve` process): from /proc, so it is what the process
    itself used, whatever else the shared machine was doing."""
    tick = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    used: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        parents[int(entry)] = int(fields[1])
        used[int(entry)] = (int(fields[11]) + int(fields[12])) / tick
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in tree]
        tree.update(children)
        frontier.extend(children)
    return sum(used.get(pid, 0.0) for pid in tree)


class Connection:
    """One client's keep-alive HTTP/1.1 connection, written by hand on asyncio streams.

    Why not httpx (the bench's first client): its connection pool's cost grows with the
    number of connections, and at N = 300 the clients used 5.7 ms of CPU per request, more
    than the server they measured (3.6 ms), on the same 2 cores. This client does only what
    the bench needs (a request, a status, a body read by Content-Length) for ~0.3 ms."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, headers: str, body: bytes = b"") -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\n{headers}"
        if body:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        self.writer.write(head.encode() + b"\r\n" + body)
        answer = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1").lower()
        status = int(answer[9:12])
        length = 0
        for line in answer.split("\r\n")[1:]:
            name, _, value = line.partition(":")
            if name == "content-length":
                length = int(value)
            elif name == "connection" and "close" in value:
                self.close()
        if length:
            await self.reader.readexactly(length)
        return status

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def load(
    base: str, keys: list[str], args: argparse.Namespace, first: int, count: int
) -> tuple[list[tuple[int, str, int, float]], float, dict[str, int], float]:
    """Run the clients; (store, kind, status (0 = timeout, -1 = other transport error), seconds),
    the elapsed time, the transport errors by kind, and this process's CPU seconds."""
    results: list[tuple[int, str, int, float]] = []
    errors: Counter[str] = Counter()
    host, port = base.removeprefix("http://").rsplit(":", 1)
    stop_at = time.monotonic() + args.duration
    rng = random.Random(20 + first)
    cpu_before = time.process_time()

    async def client(i: int) -> None:
        store = i % len(keys)
        headers = f"Authorization: Bearer {keys[store]}\r\n"
        conn = Connection(host, int(port))
        n = 0
        if args.think_ms > 0:  # ERP users do not all save in the same millisecond: start staggered
            await asyncio.sleep(rng.expovariate(1000.0 / args.think_ms))
        while time.monotonic() < stop_at:
            write = rng.random() < args.write_share
            n += 1
            started = time.perf_counter()
            if write:
                body = json.dumps({"nome": f"Cliente {i}-{n}-{uuid.uuid4().hex[:6]}"}).encode()
                sent = conn.request("POST", "/api/clientes", headers, body)
            else:
                sent = conn.request("GET", "/api/clientes?limit=1", headers)
            try:
                status = await asyncio.wait_for(sent, args.client_timeout)
            except TimeoutError:
                status = 0
                conn.close()  # its answer may still come: never read it as the next one's
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
                status = -1
                errors[type(exc).__name__] += 1
                conn.close()
            results.append((store, "escrita" if write else "leitura", status, time.perf_counter() - started))
            if status == 503:
                await asyncio.sleep(min(1.0, args.retry_pause))  # a real client honours Retry-After (shortened)
            elif args.think_ms > 0:  # an ERP user between two saves (exponential, mean --think-ms)
                await asyncio.sleep(min(rng.expovariate(1000.0 / args.think_ms), stop_at - time.monotonic()))
        conn.close()

    began = time.monotonic()
    await asyncio.gather(*(client(i) for i in range(first, first + count)))
    elapsed = time.monotonic() - began
    return results, elapsed, dict(errors), time.process_time() - cpu_before


def client_process(base: str, keys: list[str], args: argparse.Namespace, first: int, count: int, out: Any) -> None:
    """One client process (the clients are spread over several: one Python process cannot
    drive hundreds of connections on a loaded machine without becoming the bottleneck)."""
    out.put(asyncio.run(load(base, keys, args, first, count)))


def run_clients(base: str, keys: list[str], args: argparse.Namespace) -> tuple[list[Any], float, dict[str, int], float]:
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    procs_n = max(1, min(args.client_processes, args.clients))
    share = [args.clients // procs_n + (1 if i < args.clients % procs_n else 0) for i in range(procs_n)]
    procs = []
    first = 0
    for count in share:
        p = ctx.Process(target=client_process, args=(base, keys, args, first, count, out))
        p.start()
        procs.append(p)
        first += count
    results: list[Any] = []
    elapsed = 0.0
    errors: Counter[str] = Counter()
    cpu = 0.0
    for _ in procs:
        r, e, errs, c = out.get()
        results.extend(r)
        elapsed = max(elapsed, e)
        errors.update(errs)
        cpu += c
    for p in procs:
        p.join()
    return results, elapsed, dict(errors), cpu


def summarize(
    results: list[tuple[int, str, int, float]],
    elapsed: float,
    errors: dict[str, int],
    hung_index: int | None,
    args: argparse.Namespace,
    cpu: dict[str, float],
) -> dict[str, Any]:
    statuses = Counter(s for _, _, s, _ in results)
    ok = [r for r in results if 200 <= r[2] < 300]
    healthy_ok = [r for r in ok if r[0] != hung_index]
    per_store: dict[int, list[float]] = defaultdict(list)
    for store, _, _, secs in ok:
        per_store[store].append(secs)
    healthy_p99s = [pct(v, 0.99) or 0.0 for s, v in per_store.items() if s != hung_index]

    def lat(rows: list[tuple[int, str, int, float]]) -> dict[str, Any]:
        secs = [r[3] for r in rows]
        return {"n": len(secs), "p50_ms": ms(pct(secs, 0.5)), "p99_ms": ms(pct(secs, 0.99))}

    return {
        "backend": args.backend,
        "serve_processes": args.serve_processes if args.backend == "postgres" else 1,
        "clients": args.clients,
        "think_ms": args.think_ms,
        "client_processes": args.client_processes,
        "stores": args.stores,
        "hung_store": hung_index is not None,
        "duration_s": round(elapsed, 1),
        "requests": len(results),
        "throughput_rps": round(len(results) / elapsed, 1) if elapsed else None,
        "ok_2xx": len(ok),
        "busy_503": statuses.get(503, 0),
        "other_4xx": sum(n for s, n in statuses.items() if 400 <= s < 500),
        "errors_5xx": sum(n for s, n in statuses.items() if s >= 500 and s != 503),
        "timeouts": statuses.get(0, 0),
        "transport_errors": statuses.get(-1, 0),
        "transport_error_kinds": errors,
        "busy_503_latency": lat([r for r in results if r[2] == 503]),
        "all_2xx": lat(ok),
        "healthy_reads": lat([r for r in healthy_ok if r[1] == "leitura"]),
        "healthy_writes": lat([r for r in healthy_ok if r[1] == "escrita"]),
        "hung_store_2xx": lat([r for r in ok if r[0] == hung_index]) if hung_index is not None else None,
        "healthy_store_p99_ms": {
            "min": ms(min(healthy_p99s)) if healthy_p99s else None,
            "median": ms(pct(healthy_p99s, 0.5)),
            "max": ms(max(healthy_p99s)) if healthy_p99s else None,
        },
        # CPU each side used per request (all requests, 503s included): what the machine's
        # cores can give the load, whatever else ran on them
        "cpu_ms_per_request": {k: round(1000 * v / len(results), 2) if results else None for k, v in cpu.items()},
        "load_average_at_end": [round(x, 1) for x in os.getloadavg()],  # what else the machine ran
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    env, pg_name = setup_env(args)
    import httpx

    from crmsync.cli.admin import migrate
    from crmsync.db.session import dispose_engines, session_scope
    from crmsync.sandbox.config import CompanyCredentials
    from crmsync.sandbox.hung import HungServer
    from crmsync.sandbox.server import SandboxServer
    from crmsync.services.integracoes import create_integracao
    from crmsync.services.lojas import create_loja

    procs: list[subprocess.Popen[bytes]] = []
    sb = hung = None
    try:
        migrate()
        hung_index = None if args.no_hung else 0
        companies = [CompanyCredentials(f"at-{i}", f"as-{i}", f"empresa-{i}") for i in range(args.stores)]
        sb = SandboxServer(companies=companies, rate_limit=50, daily_quota=10_000_000).start()
        hung = HungServer().start()
        keys: list[str] = []
        healthy: list[int] = []
        with session_scope() as s:
            for i in range(args.stores):
                loja, key = create_loja(s, f"Loja {i}")
                if i != hung_index:
                    healthy.append(loja.id)
                create_integracao(
                    s,
                    loja_id=loja.id,
                    provider="gestao_click",
                    base_url=hung.base_url if i == hung_index else sb.base_url,
                    access_token=f"at-{i}",
                    secret_access_token=f"as-{i}",
                )
                keys.append(key)
        dispose_engines()
        port = free_port()
        workdir = env["CRMSYNC_DATA_DIR"]
        log = open(Path(workdir) / "serve.log", "wb")  # noqa: SIM115 - closed with the processes
        serve = [CRMSYNC, "serve", "--host", "127.0.0.1", "--port", str(port)]
        if args.backend == "postgres":
            serve += ["--workers", str(args.serve_processes), "--no-worker"]
        procs.append(subprocess.Popen(serve, cwd=workdir, env=os.environ.copy(), stdout=log, stderr=log))
        if args.backend == "postgres":
            for _ in range(args.job_workers):
                cmd = [CRMSYNC, "worker", "--concurrency", str(args.job_threads)]
                procs.append(subprocess.Popen(cmd, cwd=workdir, env=os.environ.copy(), stdout=log, stderr=log))
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(base + "/health", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or procs[0].poll() is not None:
                raise SystemExit("crmsync serve did not start; see " + str(Path(workdir) / "serve.log"))
            time.sleep(0.3)
        time.sleep(3 if args.backend == "sqlite" else 8)  # every serve process up, not only the first
        print(
            f"{args.stores} lojas, {args.clients} clientes, {args.duration:.0f} s, {args.backend}"
            + (f" ({args.serve_processes} processos serve)" if args.backend == "postgres" else ""),
            flush=True,
        )
        serve_before = tree_cpu_seconds(procs[0].pid)
        workers_before = sum(tree_cpu_seconds(p.pid) for p in procs[1:])
        sandbox_before = time.process_time()  # this process: the sandbox CRM and the hung one
        results, elapsed, errors, client_cpu = run_clients(base, keys, args)
        cpu = {
            "serve": tree_cpu_seconds(procs[0].pid) - serve_before,
            "job_workers": sum(tree_cpu_seconds(p.pid) for p in procs[1:]) - workers_before,
            "clients": client_cpu,
            "crm_sandbox": time.process_time() - sandbox_before,
        }
        unsynced = unsynced_customers(healthy)
        pushed = unsynced["customers"] - unsynced["not_yet_in_crm"]  # the hung store links none
        summary = summarize(results, elapsed, errors, hung_index, args, cpu)
        # The workers' CPU per push they finished in the window (a worker that falls behind
        # shows less CPU per request, not less per push)
        summary["pushes_done"] = pushed
        summary["job_workers_cpu_ms_per_push"] = round(1000 * cpu["job_workers"] / pushed, 2) if pushed else None
        summary["healthy_unsynced_at_end"] = unsynced
        summary["drained_after_s"] = drain_seconds(healthy, args.drain_timeout) if unsynced["not_yet_in_crm"] else 0.0
        dispose_engines()
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        if hung is not None:
            hung.release()
            hung.stop()
        if sb is not None:
            sb.stop()
        take_down(pg_name)
        shutil.rmtree(env["CRMSYNC_DATA_DIR"], ignore_errors=True)
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--clients", type=int, default=100, help="simultaneous clients (N)")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load (default 60)")
    parser.add_argument("--stores", type=int, default=50)
    parser.add_argument("--write-share", type=float, default=0.2)
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--serve-processes", type=int, default=3, help="postgres: `crmsync serve --workers`")
    parser.add_argument("--job-workers", type=int, default=1, help="postgres: `crmsync worker` processes")
    parser.add_argument("--job-threads", type=int, default=4, help="postgres: threads per `crmsync worker`")
    parser.add_argument("--api-concurrency", type=int, default=0, help="CRMSYNC_API_CONCURRENCY (0: default)")
    parser.add_argument("--client-timeout", type=float, default=30.0, help="a request past this is a timeout")
    parser.add_argument(
        "--think-ms",
        type=float,
        default=0.0,
        help="mean pause of a client between two requests (exponential; 0: none, the closed-loop stress run)",
    )
    parser.add_argument("--retry-pause", type=float, default=0.2, help="pause after a 503 (seconds)")
    parser.add_argument("--client-processes", type=int, default=4, help="processes the clients are spread over")
    parser.add_argument("--no-hung", action="store_true", help="control run: every store's CRM healthy")
    parser.add_argument(
        "--drain-timeout", type=float, default=300.0, help="how long to wait, after the load, for the pushes it queued"
    )
    args = parser.parse_args()
    summary = run(args)
    for key in ("throughput_rps", "ok_2xx", "busy_503", "errors_5xx", "timeouts", "transport_errors"):
        print(f"{key}: {summary[key]}")
    shown = ("all_2xx", "healthy_reads", "healthy_writes", "hung_store_2xx", "healthy_store_p99_ms")
    shown += ("cpu_ms_per_request", "pushes_done", "job_workers_cpu_ms_per_push")
    shown += ("healthy_unsynced_at_end", "drained_after_s", "load_average_at_end")
    for key in shown:
        print(f"{key}: {summary[key]}")
    print(json.dumps(summary, ensure_ascii=False))


if __name__ == "__main__":
    main()
