"""Switch a SQLite file to WAL, surviving other processes opening it at the same moment.

Shared by the database package, the runtime state and the providers' rate-limit stores,
so it sits beside them (it imports nothing of crmsync).

Why: the switch needs a moment of exclusive access and SQLite answers "database is
locked" at once, without waiting out the busy timeout, when another connection is opening
the file then (two workers started together, a test's two processes). The mode is stored in
the file, so a retry a few milliseconds later finds it set.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from tenacity import retry, retry_if_exception, stop_after_delay, wait_random_exponential

__all__ = ["enable_wal"]


def _locked(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc)


@retry(
    retry=retry_if_exception(_locked),
    wait=wait_random_exponential(multiplier=0.01, max=0.5),
    stop=stop_after_delay(30),
    reraise=True,
)
def enable_wal(conn: Any) -> None:
    """``conn``: a sqlite3 connection or cursor."""
    conn.execute("PRAGMA journal_mode=WAL")
