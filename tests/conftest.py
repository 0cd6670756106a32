"""Shared fixtures: real databases (a SQLite file, and fresh databases on the PostgreSQL and
MariaDB servers of the machine) and an isolated settings environment.

Server tests skip with a visible reason when a server is unreachable on a developer's
machine; under CI (CI=true) an unreachable server is a failure, never a skip.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from crmsync.db.schema import create_schema
from crmsync.db.session import dispose_engines
from crmsync.settings import reset_settings_cache

PG_ADMIN_URL = os.environ.get("CRMSYNC_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MARIA_ADMIN_URL = os.environ.get("CRMSYNC_TEST_MARIA_URL", "mysql+pymysql://root@127.0.0.1:3306/test")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _unavailable(what: str, exc: Exception) -> None:
    reason = f"{what} unreachable: {type(exc).__name__}: {str(exc).splitlines()[0][:160]}"
    if IN_CI:
        pytest.fail(f"{reason} (CI must run the server tests)")
    pytest.skip(reason)


def _swap_db(url: str, name: str) -> str:
    return url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture
def fresh_database(tmp_path: Path) -> Iterator[object]:
    """Factory: `fresh_database("sqlite"|"postgresql"|"mariadb") -> url` of an empty database."""
    created: list[tuple[str, str]] = []

    def make(kind: str) -> str:
        name = f"crmsync_t_{uuid.uuid4().hex[:12]}"
        if kind == "sqlite":
            return f"sqlite:///{(tmp_path / (name + '.db')).as_posix()}"
        admin_url = PG_ADMIN_URL if kind == "postgresql" else MARIA_ADMIN_URL
        try:
            eng = create_engine(admin_url, isolation_level="AUTOCOMMIT")
            with eng.connect() as conn:
                if kind == "postgresql":
                    conn.execute(text(f'CREATE DATABASE "{name}"'))
                else:
                    conn.execute(text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"))
            eng.dispose()
        except Exception as exc:  # any driver error means the server is not there
            _unavailable(kind, exc)
        created.append((kind, name))
        return _swap_db(admin_url, name)

    yield make
    dispose_engines()
    for kind, name in created:
        admin_url = PG_ADMIN_URL if kind == "postgresql" else MARIA_ADMIN_URL
        eng = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with eng.connect() as conn:
            if kind == "postgresql":
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            else:
                conn.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
        eng.dispose()


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def db_url(request: pytest.FixtureRequest, fresh_database: object) -> str:
    """An empty database of each kind, in turn (the test runs three times)."""
    if request.param != "sqlite":
        request.applymarker(getattr(pytest.mark, "postgres" if request.param == "postgresql" else "mariadb"))
    return fresh_database(request.param)  # type: ignore[operator]


@pytest.fixture
def sqlite_url(fresh_database: object) -> str:
    return fresh_database("sqlite")  # type: ignore[operator]


@pytest.fixture
def app_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sqlite_url: str) -> Iterator[dict[str, str]]:
    """Settings pointing at a migrated SQLite database in a temporary data directory."""
    env = {
        "CRMSYNC_DATA_DIR": str(tmp_path),
        "CRMSYNC_DATABASE_URL": sqlite_url,
        "CRMSYNC_QUEUE_URL": f"sqlite:///{(tmp_path / 'queue.db').as_posix()}",
        "CRMSYNC_SECRET_KEY": "xJ7Ob0rNwrZ0Vq3r9mOe2jvV6lE4hN8XcZ1pQ5sT7uY=",
        "CRMSYNC_ADMIN_TOKEN": "admin-token-for-tests",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    reset_settings_cache()
    dispose_engines()
    create_schema(sqlite_url)
    yield env
    dispose_engines()
    reset_settings_cache()
