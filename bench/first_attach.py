"""Benchmark: a store's first attach to a GestãoClick account (#18 item 2).

    .venv/bin/python bench/first_attach.py [--rows 10000] [--decide-rows 100000]

Runs the real engine (SQLite) against the GestãoClick sandbox on loopback, with no rate
limit and no quota, and counts the requests the sandbox served. Scenarios, each on a fresh
store and a fresh CRM:

* ``all_there``: every local customer is already in the CRM (same e-mails; the usual case:
  an ERP and a CRM used apart for years). Target: requests <= listing pages + 10, 0 creates,
  0 conflicts;
* ``empty_crm``: none is. Target: requests <= creates + listing pages + 10;
* ``half``: half are. Target: the sum of the two;
* ``dry_run``: ``half`` as a dry run. Target: listing pages only, 0 writes;
* ``decide``: the pure decide step on ``--decide-rows`` rows in memory, in a child process
  (its peak RSS is its own). Target: < 200 MB RSS, >= 20,000 rows/s.

The last line of output is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CREDS = {"access_token": "sandbox-access-token", "secret_access_token": "sandbox-secret-token"}


def _peak_rss_mb() -> float:
    """This process's peak resident memory (the kernel's VmHWM: unlike ``ru_maxrss`` it
    does not start from the parent's size at the fork before the exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _decide_child(rows: int) -> dict[str, Any]:
    """The decide step alone: index ``rows`` listed records, decide ``rows`` local rows
    (half of them held by the CRM) against it."""
    from crmsync.engine.attach import RemoteIndex, decide
    from crmsync.providers.base import RemoteRecord

    base = _peak_rss_mb()
    index = RemoteIndex("cliente")
    started = time.perf_counter()
    for i in range(rows):
        n = i * 2  # the CRM holds the even customers
        data = {
            "nome": f"Cliente {n}",
            "email": f"c{n}@bench.example.com",
            "tipo_pessoa": "PF",
            "cidade": "Natal",
            "telefone": f"84 3{n:07d}",
        }
        index.add(RemoteRecord(str(100000 + n), data, None, f"v{n}"))
    indexed = time.perf_counter() - started
    local = ((i, {"nome": f"Cliente {i}", "email": f"c{i}@bench.example.com"}) for i in range(rows))
    started, cpu_started = time.perf_counter(), time.process_time()
    counts: dict[str, int] = {}
    for decision in decide(local, index):
        counts[decision.action] = counts.get(decision.action, 0) + 1
    decided, decided_cpu = time.perf_counter() - started, time.process_time() - cpu_started
    return {
        "rows": rows,
        "index_seconds": round(indexed, 2),
        "decide_seconds": round(decided, 2),
        "decide_rows_per_second": round(rows / decided, 0) if decided else None,
        # CPU time: on a shared, loaded machine the wall clock also counts other processes
        "decide_cpu_seconds": round(decided_cpu, 2),
        "decide_rows_per_cpu_second": round(rows / decided_cpu, 0) if decided_cpu else None,
        "decisions": counts,
        "interpreter_rss_mb": round(base, 1),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
    }


def _scenario(name: str, rows: int, in_crm: int, *, dry_run: bool, workdir: Path) -> dict[str, Any]:
    from sqlalchemy import func, select

    from crmsync.config import parse_config
    from crmsync.crypto import encrypt_json
    from crmsync.db.bulk import bulk_insert
    from crmsync.db.local import Cliente, Loja
    from crmsync.db.schema import create_schema
    from crmsync.db.session import get_sessionmaker
    from crmsync.db.sync import CrmConflito, CrmEntityLink, CrmIntegracao
    from crmsync.db.types import utcnow
    from crmsync.engine import RunOptions, SyncEngine
    from crmsync.providers.gestaoclick import GestaoClickProvider
    from crmsync.sandbox import SandboxServer

    url = f"sqlite:///{workdir / f'{name}.db'}"
    create_schema(url)
    sf = get_sessionmaker(url)
    with sf() as s, s.begin():
        loja = Loja(nome=f"Bench {name}", api_key_hash=name.encode().hex().ljust(64, "0")[:64], api_key_prefix="crm_")
        s.add(loja)
        s.flush()
        integ = CrmIntegracao(
            id_loja=loja.id,
            provider="gestao_click",
            base_url="http://sandbox",
            credenciais=encrypt_json(CREDS),
            credenciais_hash=name,
            config={},
            webhook_token=name,
        )
        s.add(integ)
        s.flush()
        integ_id, loja_id = integ.id, loja.id
        now = utcnow()
        bulk_insert(
            s.connection(),
            Cliente.__table__,  # type: ignore[arg-type]
            [
                {
                    "nome": f"Cliente {i}",
                    "email": f"c{i}@bench.example.com",
                    "chave_email": f"c{i}@bench.example.com",
                    "tipo_pessoa": "PF",
                    "ativo": True,
                    "cadastrado_em": now,
                    "modificado_em": now,
                }
                for i in range(rows)
            ],
            {"id_loja": loja_id},
        )
    with SandboxServer(rate_limit=0, daily_quota=0, seed=1) as sb:
        sb.store.bulk_create(
            "clientes",
            ({"nome": f"Cliente {i}", "email": f"c{i}@bench.example.com", "tipo_pessoa": "PF"} for i in range(in_crm)),
        )
        sb.reset_stats(quota=True)
        provider = GestaoClickProvider(
            sb.base_url,
            credentials=CREDS,
            config=parse_config({}),
            rate_limit_per_second=None,
            daily_quota=None,
            create_settle_seconds=0,
        )
        engine = SyncEngine(sf, integ_id, provider=provider, options=RunOptions(trigger="bulk", dry_run=dry_run))
        pages: list[int] = [0]

        def progress(report: dict[str, Any]) -> None:
            pages[0] = max(pages[0], int(report.get("pages") or 0))

        engine.progress = progress
        started = time.perf_counter()
        try:
            summary = engine.push("cliente")
        finally:
            engine.close()
        elapsed = time.perf_counter() - started
        stats = sb.stats()
        by_kind: dict[str, int] = {}
        for r in sb.requests():
            method = str(r.get("method"))
            by_kind[method] = by_kind.get(method, 0) + 1
        remote = sb.store.count("clientes")
    ops: dict[str, int] = {}
    planned: dict[str, int] = {}
    for item in summary.itens:
        ops[item.operacao] = ops.get(item.operacao, 0) + 1
        for entry in item.planned:
            planned[entry["operacao"]] = planned.get(entry["operacao"], 0) + 1
    with sf() as s:
        links = s.scalar(select(func.count()).select_from(CrmEntityLink)) or 0
        conflicts = s.scalar(select(func.count()).select_from(CrmConflito)) or 0
    requests = int(stats["total_requests"])
    creates = by_kind.get("POST", 0)
    figures = {
        "rows": rows,
        "already_in_crm": in_crm,
        "dry_run": dry_run,
        "seconds": round(elapsed, 1),
        "rows_per_second": round(rows / elapsed, 0) if elapsed else None,
        "requests": requests,
        "requests_by_method": by_kind,
        "listing_pages": pages[0],
        "creates": creates,
        "operations": ops,
        "planned": planned,
        "links": links,
        "conflicts": conflicts,
        "crm_records_after": remote,
        "errors": summary.erros,
        "budget": pages[0] + (0 if dry_run else rows - in_crm) + 10,
    }
    figures["within_budget"] = requests <= figures["budget"] if not dry_run else requests == pages[0]
    print(f"{name}: {json.dumps(figures)}", file=sys.stderr)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--decide-rows", type=int, default=100_000)
    parser.add_argument("--decide-child", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--only", default=None, help="comma-separated scenarios")
    args = parser.parse_args()
    if args.decide_child is not None:
        print(json.dumps(_decide_child(args.decide_child)))
        return 0

    workdir = Path(tempfile.mkdtemp(prefix="crmsync-attach-"))
    os.environ["CRMSYNC_DATA_DIR"] = str(workdir)
    os.environ.setdefault("CRMSYNC_SECRET_KEY", "xJ7Ob0rNwrZ0Vq3r9mOe2jvV6lE4hN8XcZ1pQ5sT7uY=")
    os.environ.setdefault("CRMSYNC_LOG_LEVEL", "WARNING")
    import logging

    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))

    only = set(args.only.split(",")) if args.only else None
    n = args.rows
    figures: dict[str, Any] = {"bench": "first_attach", "rows": n}
    plan = {
        "all_there": (n, False),
        "empty_crm": (0, False),
        "half": (n // 2, False),
        "dry_run": (n // 2, True),
    }
    for name, (in_crm, dry) in plan.items():
        if only is None or name in only:
            figures[name] = _scenario(name, n, in_crm, dry_run=dry, workdir=workdir)
    if only is None or "decide" in only:
        out = subprocess.run(
            [sys.executable, __file__, "--decide-child", str(args.decide_rows)],
            check=True,
            capture_output=True,
            text=True,
        )
        figures["decide"] = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"decide: {json.dumps(figures['decide'])}", file=sys.stderr)
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
