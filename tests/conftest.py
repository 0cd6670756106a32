"""Shared fixtures: real databases (a SQLite file, and fresh databases on the PostgreSQL and
MariaDB servers of the machine) and an isolated settings environment.

Server tests skip with a visible reason when a server is unreachable on a developer's
machine; under CI (CI=true) an unreachable server is a failure, never a skip.

A test that wants a migrated database gets a copy of a template migrated once per test
process (`fresh_database(kind, migrated=True)`, `app_env`, `db_templates.migrate(url)`; see
tests/db_templates.py); a test about the migrations asks for an empty one and runs them.
"""

from __future__ import annotations

import math
import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings

from crmsync.db.session import dispose_engines
from crmsync.settings import reset_settings_cache

sys.path.insert(0, str(Path(__file__).parent))  # tests/db_templates.py, importable from every area
from db_templates import TEMPLATES, admin_url, create_server_database, drop_server_database, migrate, swap_db

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


# Property tests: the README's run tries a fifth of each test's examples (at least 10); CI
# also runs them as written (CRMSYNC_HYPOTHESIS=full, `-m hypothesis`). No example has a time
# limit: Hypothesis' 200 ms deadline is a timed assertion, and fails on a loaded machine.
HYPOTHESIS_FULL = os.environ.get("CRMSYNC_HYPOTHESIS", "").lower() == "full"
HYPOTHESIS_SHARE = 1.0 if HYPOTHESIS_FULL else 0.2
HYPOTHESIS_MIN_EXAMPLES = 10
hypothesis_settings.register_profile("crmsync", deadline=None)
hypothesis_settings.load_profile("crmsync")
if not HYPOTHESIS_FULL:  # the engine's state machine (tests/engine/test_stateful.py) reads its own
    os.environ.setdefault("CRMSYNC_STATEFUL_EXAMPLES", "10")
STATE_MACHINE_TESTS = {"test_stateful.py"}  # run_state_machine_as_test: no `hypothesis` marker of its own
SLOW_TIMEOUT_SECONDS = 900  # a bound on a hang for `slow` tests, which take minutes on a loaded machine


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Long tests (`slow`) first, so the xdist workers do not wait for one at the end; and
    scale each property test's own `max_examples` (a profile cannot: a test's @settings wins
    over it) and drop its deadline."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)  # stable: order kept otherwise
    done: set[int] = set()
    for item in items:
        if item.get_closest_marker("slow") and not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(SLOW_TIMEOUT_SECONDS))
        if item.path.name in STATE_MACHINE_TESTS:
            item.add_marker(pytest.mark.hypothesis)
        test = getattr(getattr(item, "obj", None), "__func__", getattr(item, "obj", None))
        if getattr(test, "hypothesis", None) is None or id(test) in done:
            continue
        done.add(id(test))  # parametrised items share the function: scale it once
        current = getattr(test, "_hypothesis_internal_use_settings", None) or hypothesis_settings.default
        examples = current.max_examples
        if not HYPOTHESIS_FULL:
            examples = min(examples, max(HYPOTHESIS_MIN_EXAMPLES, math.ceil(examples * HYPOTHESIS_SHARE)))
        test._hypothesis_internal_use_settings = hypothesis_settings(  # type: ignore[union-attr]
            current, max_examples=examples, deadline=None
        )


def _unavailable(what: str, exc: Exception) -> None:
    reason = f"{what} unreachable: {type(exc).__name__}: {str(exc).splitlines()[0][:160]}"
    if IN_CI:
        pytest.fail(f"{reason} (CI must run the server tests)")
    pytest.skip(reason)


@pytest.fixture(scope="session", autouse=True)
def _db_templates() -> Iterator[None]:
    """Drop this process's migrated templates (tests/db_templates.py) at the end."""
    yield
    dispose_engines()
    TEMPLATES.close()


@pytest.fixture
def fresh_database(tmp_path: Path) -> Iterator[object]:
    """Factory: `fresh_database("sqlite"|"postgresql"|"mariadb") -> url` of an empty database;
    `migrated=True`: a copy of the migrated template instead (the built-in local tables)."""
    created: list[tuple[str, str]] = []

    def make(kind: str, migrated: bool = False) -> str:
        name = f"crmsync_t_{uuid.uuid4().hex[:12]}"
        if kind == "sqlite":
            url = f"sqlite:///{(tmp_path / (name + '.db')).as_posix()}"
        else:
            try:
                create_server_database(kind, name)
            except Exception as exc:  # any driver error means the server is not there
                _unavailable(kind, exc)
            created.append((kind, name))
            url = swap_db(admin_url(kind), name)
        if migrated:
            migrate(url)
        return url

    yield make
    dispose_engines()
    for kind, name in created:
        drop_server_database(kind, name)


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
    migrate(sqlite_url)  # a copy of the migrated template (tests/db_templates.py)
    yield env
    dispose_engines()
    reset_settings_cache()
