"""Throughput of the GestãoClick provider against the sandbox at the documented limit.

Run: `.venv/bin/python bench/provider_throughput.py [--records 1000] [--fault-rate 0.1]`

Phase 1: a sandbox at 3 req/s (sliding one-second window, like the real API), N creates then
N reads through the provider. Reports the achieved request rate as a fraction of the limit
(goal: >= 95%), the 429s the sandbox sent (goal: 0), retries and duplicates (by CPF).

Phase 2 (skipped with `--fault-rate 0`): the same with faults injected into that share of
requests (500 pages, answers slower than the client timeout, dropped connections, creates
whose answer is lost); checks that every record exists exactly once.

Prints a human summary, then one JSON line last.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import structlog

from crmsync.mapping.normalize import digits
from crmsync.providers.base import ProviderError
from crmsync.providers.gestaoclick import GestaoClickProvider
from crmsync.providers.transport import DEFAULT_PACE_FACTOR
from crmsync.sandbox.server import SandboxServer
from crmsync.settings import Settings

CREDENTIALS = {"access_token": "sandbox-access-token", "secret_access_token": "sandbox-secret-token"}


def make_cpf(n: int) -> str:
    base = [int(d) for d in f"{(n * 7919 + 100000003) % 10**9:09d}"]
    for length in (9, 10):
        total = sum(d * w for d, w in zip(base, range(length + 1, 1, -1), strict=True))
        digit = (total * 10) % 11
        base.append(0 if digit == 10 else digit)
    return "".join(map(str, base))


def cliente(n: int) -> dict[str, Any]:
    return {
        "tipo_pessoa": "PF",
        "nome": f"Cliente Benchmark {n}",
        "cpf": make_cpf(n),
        "email": f"bench{n}@example.com",
        "telefone": "+551135228899",
        "cep": "31260210",
        "logradouro": "Rua Cassiano Campolina",
        "numero": str(n),
        "cidade": "Belo Horizonte",
        "estado": "MG",
        "ativo": True,
    }


def run_phase(
    records: int, rate_limit: float, fault_rate: float, timeout: float, slow_seconds: float, seed: int
) -> dict[str, Any]:
    data_dir = Path(tempfile.mkdtemp(prefix="crmsync-bench-"))
    settings = Settings(data_dir=data_dir)
    failures: Counter[str] = Counter()
    with SandboxServer(
        rate_limit=rate_limit,
        daily_quota=30000,
        fault_rate=fault_rate,
        slow_seconds=slow_seconds,
        seed=seed,
    ) as sb:
        provider = GestaoClickProvider(
            sb.base_url,
            credentials=CREDENTIALS,
            settings=settings,
            rate_limit_per_second=rate_limit,
            timeout=timeout,
            max_attempts=8,
            create_attempts=6,
        )
        ids: list[str] = []
        started = time.monotonic()
        for i in range(records):
            try:
                ids.append(provider.create("cliente", cliente(i)).external_id)
            except ProviderError as exc:
                failures[f"create:{type(exc).__name__}"] += 1
        created_at = time.monotonic()
        for ext in ids:
            try:
                provider.get("cliente", ext)
            except ProviderError as exc:
                failures[f"read:{type(exc).__name__}"] += 1
        finished = time.monotonic()
        stats = sb.stats()
        log = sb.requests()
        per_cpf = Counter(digits(r.get("cpf")) for r in sb.panel_list("clientes"))
        client = provider.stats()
        provider.close()
    company = stats["companies"]["empresa-1"]
    elapsed = finished - started
    expected = {make_cpf(i) for i in range(records)}
    duplicates = sum(c - 1 for cpf, c in per_cpf.items() if c > 1)
    missing = len(expected - set(per_cpf))
    served_rate = company["requests_total"] / elapsed if elapsed else 0.0
    t0 = log[0]["t"] if log else 0.0
    at_429 = [round(e["t"] - t0, 1) for e in log if e["status"] == 429]
    return {
        "records": records,
        "fault_rate": fault_rate,
        "rate_limit": rate_limit,
        "client_timeout_s": timeout,
        "slow_seconds": slow_seconds,
        "elapsed_s": round(elapsed, 1),
        "create_phase_s": round(created_at - started, 1),
        "read_phase_s": round(finished - created_at, 1),
        "requests_received_by_sandbox": company["requests_total"],
        "requests_sent_by_client": client["requests_sent"],
        "achieved_rps": round(served_rate, 3),
        "fraction_of_limit": round(served_rate / rate_limit, 4) if rate_limit else None,
        "max_requests_in_any_1s_window": company["max_requests_in_any_1s_window"],
        "http_429_received": company["rate_limited"],
        "seconds_into_run_of_429s": at_429[:20],
        "pace_factor": DEFAULT_PACE_FACTOR,
        "retries": client["retries"],
        "timeouts": client["timeouts"],
        "faults_injected": stats["faults"],
        "duplicates": duplicates,
        "missing": missing,
        "exactly_once": duplicates == 0 and missing == 0,
        "failures": dict(failures),
    }


def summary(label: str, r: dict[str, Any]) -> str:
    lines = [
        f"== {label}: {r['records']} creates + {r['records']} reads, fault rate {r['fault_rate']}",
        f"   elapsed {r['elapsed_s']} s (creates {r['create_phase_s']} s, reads {r['read_phase_s']} s)",
        f"   requests seen by the sandbox {r['requests_received_by_sandbox']}, "
        f"rate {r['achieved_rps']}/s = {100 * (r['fraction_of_limit'] or 0):.1f}% of {r['rate_limit']}/s",
        f"   densest 1 s window {r['max_requests_in_any_1s_window']}, "
        f"429s received {r['http_429_received']}, "
        f"retries {r['retries']}, timeouts {r['timeouts']}"
        + (f" (429s at {r['seconds_into_run_of_429s']} s)" if r["seconds_into_run_of_429s"] else ""),
        f"   faults injected {r['faults_injected']}",
        f"   duplicates {r['duplicates']}, missing {r['missing']}, exactly once: {r['exactly_once']}, "
        f"failed items {r['failures'] or 0}",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--fault-rate", type=float, default=0.1, help="second phase; 0 skips it")
    parser.add_argument("--rate-limit", type=float, default=3.0)
    parser.add_argument("--timeout", type=float, default=2.0, help="client timeout (s)")
    parser.add_argument("--slow-seconds", type=float, default=3.0, help="sandbox slow answers (s), > timeout")
    parser.add_argument("--skip-clean", action="store_true", help="run only the fault phase")
    args = parser.parse_args(argv)
    # Per-request debug lines and per-retry warnings would bury the summary; counts are in it.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))

    results: dict[str, Any] = {"command": "bench/provider_throughput.py " + " ".join(sys.argv[1:])}
    ok = True
    if not args.skip_clean:
        clean = run_phase(args.records, args.rate_limit, 0.0, args.timeout, args.slow_seconds, seed=0)
        print(summary("no faults", clean), flush=True)
        results["clean"] = clean
        ok &= (clean["fraction_of_limit"] or 0) >= 0.95 and clean["http_429_received"] == 0
        ok &= clean["exactly_once"]
    if args.fault_rate > 0:
        faulty = run_phase(args.records, args.rate_limit, args.fault_rate, args.timeout, args.slow_seconds, seed=1)
        print(summary(f"fault rate {args.fault_rate}", faulty), flush=True)
        results["faults"] = faulty
        ok &= faulty["exactly_once"]
    results["ok"] = bool(ok)
    print(json.dumps(results, ensure_ascii=False))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
