"""Two real processes sharing one company's credentials stay under the sandbox's 3 req/s
(counted by the sandbox itself), with zero 429s, through the SQLite store and through Redis."""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from pathlib import Path

import pytest
from gc_helpers import redis_url_or_skip
from support.processes import run_side_by_side

from crmsync.sandbox.server import SandboxServer

WORKER = Path(__file__).with_name("rate_worker.py")
PER_PROCESS = 9


def run_two_workers(tmp_path: Path, ratelimit_url: str, access: str, secret: str) -> None:
    with SandboxServer(
        rate_limit=3.0,
        daily_quota=30000,
        fault_rate=0.0,
        seed=1,
        seed_records=150,
        access_token=access,
        secret_access_token=secret,
    ) as sb:
        start_at = time.time() + 2.0  # both interpreters are up by then
        env = {**os.environ, "PYTHONPATH": str(Path.cwd())}
        argv = [sys.executable, str(WORKER), sb.base_url, str(tmp_path), ratelimit_url, access, secret]
        outputs = run_side_by_side([*argv, str(PER_PROCESS), repr(start_at)], env)
        counters = [json.loads(out.strip().splitlines()[-1]) for out in outputs]
        company = sb.stats()["companies"]["empresa-1"]
    assert company["requests_total"] == 2 * PER_PROCESS
    assert company["max_requests_in_any_1s_window"] <= 3, company
    assert company["rate_limited"] == 0
    assert all(c["rate_limited"] == 0 and c["requests_sent"] == PER_PROCESS for c in counters)


def test_two_processes_share_the_limit_through_sqlite(tmp_path: Path) -> None:
    run_two_workers(
        tmp_path,
        f"sqlite:///{(tmp_path / 'limits.db').as_posix()}",
        "sandbox-access-token",
        "sandbox-secret-token",
    )


@pytest.mark.redis
def test_two_processes_share_the_limit_through_redis(tmp_path: Path) -> None:
    url = redis_url_or_skip()
    token = uuid.uuid4().hex  # a company of its own: no bucket shared with other runs
    run_two_workers(tmp_path, url, "acc-" + token, "sec-" + token)
