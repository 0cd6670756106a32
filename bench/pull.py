"""Benchmark: first full pull of N clientes from the GestãoClick sandbox into SQLite.

    .venv/bin/python bench/pull.py [--records 100000] [--seed 1] [--keep DIR]
    .venv/bin/python bench/pull.py --provider suitecrm [--records 20000] [--changes 10]

(`--provider suitecrm`: see bench/pull_suitecrm.py.)

The sandbox runs in its own process (seeded through its store, not over HTTP; no rate limit,
no quota) so the memory figure is the engine's alone. Measured:

* records/s applied by the first full pull (target >= 5,000/s on the 2-core machine);
* peak resident memory (target < 300 MB: pages are streamed) of this process (`ru_maxrss`)
  and of the process that lists a long scan's pages (crmsync.providers.read_ahead; 0 when
  the listing stayed in this process), and their sum;
* the request cost of a steady-state incremental poll with nothing changed, with the
  provider's default listing (full scan + version compare) and with newest-first ordering
  (`ordenar_por_modificacao`), which stops at the stored watermark.

The last line of output is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from pull_common import bench_database, bench_integration, sandbox_requests, start_process, stop_process

CREDS = {"access_token": "sandbox-access-token", "secret_access_token": "sandbox-secret-token"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_sandbox(records: int, seed: int) -> tuple[subprocess.Popen[str], str]:
    argv = [sys.executable, "-m", "crmsync.sandbox", "--port", str(_free_port()), "--rate-limit", "0"]
    argv += ["--daily-quota", "0", "--records", str(records), "--seed", str(seed)]

    def ready(line: str) -> str | None:
        match = re.search(r"(http://127\.0\.0\.1:\d+)", line)
        return match.group(1) if match and "Simulador" in line else None

    return start_process(argv, ready)


def _timed(obj: Any, method: str) -> list[float]:
    """Accumulate the time spent inside ``obj.method`` (to split a figure between the
    provider's listing and the engine's applying of pages)."""
    spent = [0.0]
    original = getattr(obj, method)

    def timed(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spent[0] += time.perf_counter() - t0

    setattr(obj, method, timed)
    return spent


def _cpu_reference_seconds() -> float:
    """Seconds this machine takes for a fixed pure-Python loop (10 million additions, best
    of three): the same 2-core machine kind has measured 2.4 times apart between sessions,
    so records/s are only comparable next to this figure."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        total = 0
        for i in range(10_000_000):
            total += i
        best = min(best, time.perf_counter() - started)
    return round(best, 3)


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class ListingProcessMemory:
    """Peak resident memory of the listing processes this one starts, sampled from
    /proc (VmHWM, the kernel's own high-water mark of each). Not `RUSAGE_CHILDREN`: a spawned
    child's `ru_maxrss` starts from its parent's size at the fork before the exec."""

    def __init__(self, sandbox_pid: int) -> None:
        self._skip = sandbox_pid
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> ListingProcessMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        while not self._stop.wait(0.5):
            pids = {
                int(pid) for task in Path("/proc/self/task").iterdir() for pid in _read(task / "children").split()
            } - {self._skip}
            for pid in pids:
                for line in _read(Path(f"/proc/{pid}/status")).splitlines():
                    if line.startswith("VmHWM:"):
                        self.peak_mb = max(self.peak_mb, int(line.split()[1]) / 1024.0)


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""  # a process or thread that ended meanwhile


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", type=Path, default=None, help="directory for the database (kept)")
    parser.add_argument(
        "--prefetch",
        type=int,
        default=None,
        help="pages read ahead (default: the engine's own setting; 0: one at a time, which also "
        "splits the time cleanly between provider and engine)",
    )
    parser.add_argument(
        "--listing",
        choices=("auto", "thread"),
        default="auto",
        help="auto: a long scan is listed by another process (the default); thread: always in "
        "this process, for comparison",
    )
    parser.add_argument("--provider", choices=("gestao_click", "suitecrm"), default="gestao_click")
    parser.add_argument("--changes", type=int, default=10, help="suitecrm: records edited before the poll")
    args = parser.parse_args()
    if args.provider == "suitecrm":
        sys.path.insert(0, str(Path(__file__).parent))
        from pull_suitecrm import run  # the SuiteCRM bench beside this file

        return run(args.records if args.records != 100_000 else 20_000, args.changes, args.seed, args.keep)

    url = bench_database(args.keep, "crmsync-bench-")

    from sqlalchemy import func, select

    import crmsync.engine.pull as engine_pull
    from crmsync.config import parse_config
    from crmsync.db.local import Cliente
    from crmsync.db.sync import CrmEntityLink
    from crmsync.engine import RunOptions, SyncEngine
    from crmsync.providers.gestaoclick import GestaoClickProvider

    if args.prefetch is not None:
        engine_pull.PREFETCH_PAGES = args.prefetch
    if args.listing == "thread":
        import crmsync.engine.listing as engine_listing

        engine_listing.PROCESS_MIN_PAGES = 10**9
    sf, integ_id = bench_integration(url, "gestao_click", CREDS)

    seed_started = time.perf_counter()
    proc, base_url = _start_sandbox(args.records, args.seed)
    seed_seconds = time.perf_counter() - seed_started
    figures: dict[str, Any] = {
        "bench": "pull",
        "records": args.records,
        "seed_seconds": round(seed_seconds, 1),
        "cpu_reference_seconds": _cpu_reference_seconds(),
        "prefetch_pages": engine_pull.PREFETCH_PAGES,
        "listing": args.listing,
    }
    try:

        def engine(config: dict[str, Any]) -> SyncEngine:
            provider = GestaoClickProvider(
                base_url, credentials=CREDS, config=parse_config(config), rate_limit_per_second=None, daily_quota=None
            )
            return SyncEngine(sf, integ_id, provider=provider, options=RunOptions(trigger="bulk"))

        rss_before = _rss_mb()
        requests_before = sandbox_requests(base_url)
        started = time.perf_counter()
        with engine({}) as eng, ListingProcessMemory(proc.pid) as listing_memory:
            applying = _timed(eng, "_apply_page")
            result = eng.pull("cliente", full=True)
        elapsed = time.perf_counter() - started
        first_requests = sandbox_requests(base_url) - requests_before
        with sf() as s:
            rows = s.scalar(select(func.count()).select_from(Cliente)) or 0
            links = s.scalar(select(func.count()).select_from(CrmEntityLink)) or 0
        figures.update(
            {
                "first_pull_seconds": round(elapsed, 2),
                "records_per_second": round(result.total_criados / elapsed, 1) if elapsed else None,
                "created": result.total_criados,
                "errors": len(result.erros),
                "pages": result.paginas,
                "first_pull_requests": first_requests,
                "engine_apply_seconds": round(applying[0], 2),
                "engine_only_records_per_second": round(result.total_criados / applying[0], 1) if applying[0] else None,
                "local_rows": rows,
                "links": links,
                "rss_before_mb": round(rss_before, 1),
                "peak_rss_mb": round(_rss_mb(), 1),
                "listing_process_peak_rss_mb": round(listing_memory.peak_mb, 1),
                "both_processes_peak_rss_mb": round(_rss_mb() + listing_memory.peak_mb, 1),
                "success": result.success,
            }
        )
        print(
            f"first full pull: {result.total_criados} created in {elapsed:.1f}s "
            f"({figures['records_per_second']}/s), {result.paginas} pages, peak RSS {figures['peak_rss_mb']} MB",
            file=sys.stderr,
        )

        # The provider alone: list every page (HTTP, JSON, mapping to canonical records).
        started = time.perf_counter()
        with engine({}) as eng:
            listed = sum(len(page.records) for page in eng.provider.iter_pages("cliente"))
        listing_seconds = time.perf_counter() - started
        figures["provider_listing_seconds"] = round(listing_seconds, 2)
        figures["provider_only_records_per_second"] = round(listed / listing_seconds, 1)

        # Steady state, nothing changed: default listing (full scan, versions compared).
        before = sandbox_requests(base_url)
        started = time.perf_counter()
        with engine({}) as eng:
            poll = eng.pull("cliente")
        figures["poll_full_scan_requests"] = sandbox_requests(base_url) - before
        figures["poll_full_scan_seconds"] = round(time.perf_counter() - started, 2)
        figures["poll_full_scan_writes"] = poll.total_criados + poll.total_atualizados

        # Steady state with newest-first ordering: the first run sets the watermark, the
        # second is the steady-state poll.
        with engine({"ordenar_por_modificacao": True}) as eng:
            eng.pull("cliente", full=True)
        before = sandbox_requests(base_url)
        started = time.perf_counter()
        with engine({"ordenar_por_modificacao": True}) as eng:
            poll = eng.pull("cliente")
        figures["poll_newest_first_requests"] = sandbox_requests(base_url) - before
        figures["poll_newest_first_seconds"] = round(time.perf_counter() - started, 2)
        figures["poll_newest_first_writes"] = poll.total_criados + poll.total_atualizados
        figures["peak_rss_mb"] = round(_rss_mb(), 1)
    finally:
        stop_process(proc)
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
