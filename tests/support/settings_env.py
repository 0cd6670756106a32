"""One test's CRMSYNC_* environment: its own data directory and database, a fixed secret key,
and the settings cache and database engines reset on the way in and out (a previous test's
settings or pooled connections must never leak into this one)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from crmsync.db.session import dispose_engines
from crmsync.settings import reset_settings_cache

SECRET_KEY = "xJ7Ob0rNwrZ0Vq3r9mOe2jvV6lE4hN8XcZ1pQ5sT7uY="
ADMIN_TOKEN = "admin-token-for-tests"


def use_settings(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    db_url: str | None = None,
    *,
    queue: bool = False,
    admin: bool = False,
) -> str:
    """CRMSYNC_DATA_DIR=tmp_path and CRMSYNC_DATABASE_URL=db_url (default: a SQLite file
    cli.db there, not created: the commands must create it); `queue`: a SQLite queue there;
    `admin`: the admin token. Resets settings and engines; returns the database URL."""
    url = db_url or f"sqlite:///{(tmp_path / 'cli.db').as_posix()}"
    monkeypatch.setenv("CRMSYNC_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CRMSYNC_DATABASE_URL", url)
    if queue:
        monkeypatch.setenv("CRMSYNC_QUEUE_URL", f"sqlite:///{(tmp_path / 'queue.db').as_posix()}")
    monkeypatch.setenv("CRMSYNC_SECRET_KEY", SECRET_KEY)
    if admin:
        monkeypatch.setenv("CRMSYNC_ADMIN_TOKEN", ADMIN_TOKEN)
    reset_settings_cache()
    dispose_engines()
    return url


@contextmanager
def settings_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *args: Any, **kwargs: Any) -> Iterator[str]:
    """`use_settings(monkeypatch, tmp_path, ...)` for the block; settings and engines reset again after it."""
    yield use_settings(monkeypatch, tmp_path, *args, **kwargs)
    dispose_engines()
    reset_settings_cache()
