"""Benchmark: local API write latency while the CRM is down or hanging.

Why: a save in the ERP must never wait for the CRM (spec 2.1's automatic push happens after
the commit, in the background). This runs the real app on real HTTP in the same process as
the embedded worker threads and scheduler (exactly what `crmsync serve` runs), with the
integration pointing at a CRM that is

- `down`: nothing listens on its port (connection refused, retried with backoff), or
- `hung`: it accepts connections and never answers (every request waits for the timeout),

and measures POST /api/clientes and PUT /api/clientes/{id} from a keep-alive client.

    .venv/bin/python bench/api_latency.py --writes 1000

Prints p50/p99/max per scenario; the last line is JSON. Target: p99 under 50 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from typing import Any


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = max(0, min(len(ordered) - 1, round(q * (len(ordered) - 1))))
    return ordered[k]


class HungServer:
    """Accepts TCP connections and never answers: the worst kind of slow CRM."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(512)
        self.port = self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)

    def close(self) -> None:
        self.sock.close()
        for c in self.conns:
            c.close()


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(writes: int, database_url: str = "", queue_url: str = "") -> dict[str, Any]:
    workdir = tempfile.mkdtemp(prefix="crmsync-bench-api-")
    os.environ.update({"CRMSYNC_DATA_DIR": workdir, "CRMSYNC_LOG_LEVEL": "ERROR"})
    for key in ("CRMSYNC_DATABASE_URL", "CRMSYNC_QUEUE_URL", "CRMSYNC_RATELIMIT_URL"):
        os.environ.pop(key, None)
    if database_url:
        os.environ["CRMSYNC_DATABASE_URL"] = database_url
    if queue_url:
        os.environ["CRMSYNC_QUEUE_URL"] = queue_url
    import httpx

    from crmsync.cli.admin import migrate
    from crmsync.cli.demo import _ApiServer, _free_port
    from crmsync.db.session import session_scope
    from crmsync.logs import configure
    from crmsync.runtime import install_listeners
    from crmsync.runtime.embedded import EmbeddedRuntime
    from crmsync.services.integracoes import create_integracao
    from crmsync.services.lojas import create_loja

    configure("ERROR")
    migrate()
    hung = HungServer()
    targets = {"down": f"http://127.0.0.1:{_dead_port()}", "hung": f"http://127.0.0.1:{hung.port}"}
    keys: dict[str, str] = {}
    with session_scope() as s:
        for name, url in targets.items():
            loja, key = create_loja(s, f"Bench {name}")
            create_integracao(
                s,
                loja_id=loja.id,
                provider="gestao_click",
                base_url=url,
                access_token=f"bench-{name}",
                secret_access_token=f"bench-{name}-s",
            )
            keys[name] = key
    install_listeners()
    api = _ApiServer(_free_port())
    api.start()
    runtime = EmbeddedRuntime().start()
    results: dict[str, Any] = {}
    try:
        for name in targets:
            headers = {"Authorization": f"Bearer {keys[name]}"}
            base = f"http://127.0.0.1:{api.port}/api/clientes"
            samples: list[float] = []
            with httpx.Client(headers=headers, timeout=30) as client:
                for _ in range(20):  # warm-up (connection, caches)
                    client.get(base)
                ids: list[int] = []
                for i in range(writes):
                    if ids and i % 2:
                        t0 = time.perf_counter()
                        r = client.put(f"{base}/{ids[i % len(ids)]}", json={"nome": f"Bench {name} {i} alterado"})
                    else:
                        t0 = time.perf_counter()
                        r = client.post(
                            base, json={"nome": f"Bench {name} {i}", "email": f"bench.{name}.{i}@example.com"}
                        )
                    samples.append((time.perf_counter() - t0) * 1000)
                    if r.status_code not in (200, 201):
                        raise SystemExit(f"{name}: HTTP {r.status_code}: {r.text}")
                    if r.status_code == 201:
                        ids.append(r.json()["id"])
            results[name] = {
                "writes": len(samples),
                "p50_ms": round(_percentile(samples, 0.50), 2),
                "p99_ms": round(_percentile(samples, 0.99), 2),
                "max_ms": round(max(samples), 2),
                "mean_ms": round(statistics.fmean(samples), 2),
            }
            print(
                f"CRM {name:>4}: {len(samples)} writes, p50 {results[name]['p50_ms']} ms, "
                f"p99 {results[name]['p99_ms']} ms, max {results[name]['max_ms']} ms",
                flush=True,
            )
    finally:
        runtime.stop(graceful=False)
        api.stop()
        hung.close()
    p99 = max(r["p99_ms"] for r in results.values())
    return {
        "benchmark": "api_latency",
        "writes_per_scenario": writes,
        "scenarios": results,
        "database": (database_url or "sqlite (default)").split("://", 1)[0],
        "queue": (queue_url or "sqlite (default)").split("://", 1)[0],
        "p99_ms_worst": p99,
        "target_p99_ms": 50,
        "ok": p99 < 50,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writes", type=int, default=1000, help="writes per scenario (POST and PUT alternate)")
    parser.add_argument("--database-url", default="", help="an empty database (default: SQLite in a temp dir)")
    parser.add_argument("--queue-url", default="", help="redis://... (default: the SQLite queue)")
    args = parser.parse_args()
    summary = run(args.writes, args.database_url, args.queue_url)
    sys.stdout.write(json.dumps(summary) + "\n")
    sys.stdout.flush()
    os._exit(0)  # worker threads may still be waiting on the hung CRM


if __name__ == "__main__":
    main()
