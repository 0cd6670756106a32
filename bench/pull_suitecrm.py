"""Benchmark: pulls from the SuiteCRM sandbox (``bench/pull.py --provider suitecrm``).

    .venv/bin/python bench/pull.py --provider suitecrm [--records 20000] [--changes 10] [--seed 1]

The sandbox runs in its own process, seeded through its store (no HTTP) with `--records`
Contacts whose ``date_modified`` spreads over past days, as a real store's would. Measured,
with requests counted by the sandbox (token requests included):

* the first pull (a full listing of Contacts and Accounts): seconds, records/s, requests;
* a steady-state poll with nothing changed (the changed-since listing re-reads only its
  overlap window);
* a poll after `--changes` Contacts were edited over the API by someone else: requests spent
  (target: at most 2 + 1 per page of changes) and records updated;
* the hourly poll that also scans every id (``fields[Contacts]=id``, 1,000 per page) to infer
  deletes, and the daily full scan: seconds and requests.

The last line of output is one JSON object with every figure.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from pull_common import bench_database, bench_integration, sandbox_requests, start_process, stop_process

SANDBOX = (
    "import sys, time\n"
    "from crmsync.sandbox.suitecrm import SuiteCrmSandboxServer\n"
    "sb = SuiteCrmSandboxServer(seed={seed}, seed_records={{'Contacts': {records}}}).start()\n"
    "print('READY', sb.base_url, flush=True)\n"
    "time.sleep(10**9)\n"
)


def _start_sandbox(records: int, seed: int) -> tuple[subprocess.Popen[str], str]:
    argv = [sys.executable, "-c", SANDBOX.format(seed=seed, records=records)]
    return start_process(argv, lambda line: line.split()[1] if line.startswith("READY ") else None)


def _edit_contacts(base_url: str, client_id: str, client_secret: str, count: int) -> None:
    """Someone else edits `count` Contacts through the API (as a SuiteCRM user would)."""
    token = httpx.post(
        f"{base_url}/Api/access_token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret},
        timeout=30,
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/vnd.api+json"}
    listed = httpx.get(
        f"{base_url}/Api/V8/module/Contacts",
        params={"page[size]": count, "page[number]": 3, "sort": "id"},
        headers=headers,
        timeout=30,
    ).json()["data"]
    for item in listed[:count]:
        body = {"data": {"type": "Contacts", "id": item["id"], "attributes": {"phone_work": "(11) 3522-8899"}}}
        httpx.patch(f"{base_url}/Api/V8/module", json=body, headers=headers, timeout=30).raise_for_status()


def run(records: int, changes: int, seed: int, keep: Path | None) -> int:
    url = bench_database(keep, "crmsync-bench-suite-")

    from sqlalchemy import func, select

    from crmsync.db.local import Cliente
    from crmsync.engine import RunOptions, SyncEngine
    from crmsync.providers.suitecrm import SuiteCrmProvider
    from crmsync.sandbox.suitecrm.config import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

    creds = {"client_id": DEFAULT_CLIENT_ID, "client_secret": DEFAULT_CLIENT_SECRET}
    sf, integ_id = bench_integration(url, "suitecrm", creds)

    seed_started = time.perf_counter()
    proc, base_url = _start_sandbox(records, seed)
    figures: dict[str, Any] = {
        "bench": "pull",
        "provider": "suitecrm",
        "records": records,
        "changes": changes,
        "seed_seconds": round(time.perf_counter() - seed_started, 1),
    }
    try:

        def engine() -> SyncEngine:
            provider = SuiteCrmProvider(base_url, credentials=creds, rate_limit_per_second=None)
            return SyncEngine(sf, integ_id, provider=provider, options=RunOptions(trigger="bulk"))

        def measured(label: str, full: bool) -> Any:
            before = sandbox_requests(base_url)
            started = time.perf_counter()
            with engine() as eng:
                result = eng.pull("cliente", full=full)
            elapsed = time.perf_counter() - started
            figures[f"{label}_seconds"] = round(elapsed, 2)
            figures[f"{label}_requests"] = sandbox_requests(base_url) - before
            figures[f"{label}_pages"] = result.paginas
            figures[f"{label}_success"] = result.success
            return result, elapsed

        first, elapsed = measured("first_pull", full=False)
        with sf() as s:
            rows = s.scalar(select(func.count()).select_from(Cliente)) or 0
        figures["first_pull_created"] = first.total_criados
        figures["records_per_second"] = round(first.total_criados / elapsed, 1) if elapsed else None
        figures["local_rows"] = rows
        print(
            f"first pull: {first.total_criados} created in {elapsed:.1f}s ({figures['records_per_second']}/s), "
            f"{figures['first_pull_requests']} requests",
            file=sys.stderr,
        )

        quiet, _ = measured("poll_nothing_changed", full=False)
        figures["poll_nothing_changed_records_read"] = quiet.total_processados

        _edit_contacts(base_url, creds["client_id"], creds["client_secret"], changes)
        poll, _ = measured("poll_changes", full=False)
        figures["poll_changes_updated"] = poll.total_atualizados
        figures["poll_changes_records_read"] = poll.total_processados
        figures["poll_changes_target_requests"] = 2 + poll.paginas
        print(
            f"poll after {changes} changes: {figures['poll_changes_requests']} requests, "
            f"{poll.total_atualizados} updated",
            file=sys.stderr,
        )

        import crmsync.engine.pull as engine_pull

        hourly = engine_pull.ID_SCAN_SECONDS
        engine_pull.ID_SCAN_SECONDS = 0  # the poll an hour later: changes plus the id scan
        try:
            with_ids, _ = measured("poll_with_id_scan", full=False)
        finally:
            engine_pull.ID_SCAN_SECONDS = hourly
        figures["poll_with_id_scan_deleted"] = with_ids.total_excluidos

        scan, _ = measured("full_scan", full=True)
        figures["full_scan_deleted"] = scan.total_excluidos
    finally:
        stop_process(proc)
    print(json.dumps(figures))
    return 0
