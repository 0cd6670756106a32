"""Several processes opening one new SQLite file at the same moment all get it in WAL mode.

SQLite refuses the switch to WAL with an immediate "database is locked" while another
connection is opening the file (seen in CI: two rate-limit workers started together); the
switch is retried. Processes, not threads: each has its own SQLite connection and start-up."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

OPEN = """
import sys, time
from crmsync.providers.limits import SQLiteLimits
time.sleep(max(0.0, float(sys.argv[2]) - time.time()))
SQLiteLimits(sys.argv[1]).close()
"""


@pytest.mark.parametrize("round_", range(3))
def test_processes_opening_a_new_file_together_all_succeed(tmp_path: Path, round_: int) -> None:
    path = tmp_path / f"limits-{round_}.db"
    start = time.time() + 1.5  # every interpreter is up by then
    procs = [
        subprocess.Popen([sys.executable, "-c", OPEN, str(path), repr(start)], stderr=subprocess.PIPE, text=True)
        for _ in range(6)
    ]
    errors = [p.communicate(timeout=60)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 6, "\n".join(e for e in errors if e)[-2000:]
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
