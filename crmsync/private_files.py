"""Files crmsync creates hold secrets or personal data (customers' documents, provider
credentials): they are created readable by their owner only (0600). SQLite gives its -wal and
-shm files the main file's mode, so creating the main file first is enough."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from sqlalchemy.engine import make_url

PRIVATE_MODE = 0o600


def create_private(path: str | Path) -> None:
    """Create `path` empty with mode 0600 unless it exists (an existing file keeps its mode:
    it may be shared with the ERP's own program on purpose)."""
    target = Path(path)
    if str(target) in ("", ":memory:") or target.exists():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):  # another process created it first
        os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_MODE))


def sqlite_file(url: str) -> str | None:
    """The file of a `sqlite:///...` URL (None for memory databases and other backends)."""
    if not url.startswith("sqlite"):
        return None
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return database
