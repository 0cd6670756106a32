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

# The longest tests (seconds in a loaded run's --durations; only their order matters): each
# starts a worker's share of the run (see _spread_long_tests), so none is left for the end,
# when the other workers have nothing more to do. Keys are node id prefixes; the tests of one
# key stay together (a module's fixtures are set up once). `slow` tests count as longest.
LONG_TESTS = {
    "tests/api_load/test_scaleout_burst.py": 156,
    "tests/api_load/test_burst.py::test_burst_of_valid_keys_gets_200_or_quick_503[300]": 121,
    "tests/api_load/test_burst.py::test_burst_of_valid_keys_gets_200_or_quick_503[100]": 98,
    "tests/foundation/test_serve_subprocess.py": 79,
    "tests/runtime/test_demo.py": 76,
    "tests/api_load/test_inputs.py": 76,
    "tests/runtime/test_scaleout.py::test_two_workers_on_redis_and_postgres_share_the_work": 73,
    "tests/api_load/test_small_holes.py::test_a_link_local_crm_address_is_refused_by_the_cli": 69,
    "tests/runtime/test_fairness.py::test_a_hung_store_takes_one_worker_and_the_other_keeps_flowing_postgres": 59,
    "tests/engine/test_listing_process.py::test_a_listing_error_in_the_process": 47,
    "tests/erp_core/test_layout_migrations.py::test_erp_ddl_unchanged_by_upgrade_and_downgrade[postgresql-False]": 46,
    "tests/runtime/test_scaleout.py::test_sigterm_lets_the_running_job_finish": 42,
    "tests/erp_engine/test_erp_two_databases.py::"
    "test_two_databases_sync_both_ways_with_nothing_of_crmsync_in_the_erps[postgresql+postgresql]": 36,
    "tests/engine/test_listing_process.py::test_a_script_without_a_main_guard_runs_once": 33,
    "tests/runtime/test_fairness.py::test_a_hung_store_takes_one_worker_and_the_other_keeps_flowing_sqlite": 33,
    "tests/engine/test_stateful.py": 32,
    "tests/provider/test_rate_limit.py::test_two_processes_share_the_limit_through_redis": 32,
}
SLOW_WEIGHT = 100.0  # a `slow` test not in LONG_TESTS (the chaos test's halves: 80-100 s loaded)


def _weight(item: pytest.Item) -> tuple[str, float]:
    """(group key, seconds) of a long test; ("", 0) for the others."""
    if item.get_closest_marker("slow"):
        return item.nodeid, SLOW_WEIGHT
    return next(((prefix, float(w)) for prefix, w in LONG_TESTS.items() if item.nodeid.startswith(prefix)), ("", 0.0))


def _spread_long_tests(items: list[pytest.Item], workers: int) -> None:
    """Order `items` so that pytest-xdist's `worksteal` starts every worker on long tests.

    worksteal hands each of the N workers a contiguous share of the list (len // workers
    left) and later moves tests from the tail of a busy worker's share to an idle worker: a
    test at the head of a share stays there. So the long tests go to the heads of the shares,
    each group to the least loaded share, longest first; the other tests keep their order.
    With one worker (or none) the long tests simply come first."""
    groups: dict[str, list[pytest.Item]] = {}
    weights: dict[str, float] = {}
    rest: list[pytest.Item] = []
    for item in items:
        key, w = _weight(item)
        if not w:
            rest.append(item)
            continue
        groups.setdefault(key, []).append(item)
        weights[key] = w
    shares: list[list[pytest.Item]] = [[] for _ in range(max(1, workers))]
    loads = [0.0] * len(shares)
    for key in sorted(groups, key=lambda k: -weights[k]):  # stable: ties keep collection order
        i = loads.index(min(loads))
        shares[i].extend(groups[key])
        loads[i] += weights[key]
    left, ordered, queue = len(items), [], iter(rest)
    for i, share in enumerate(shares):
        size = left // (len(shares) - i)  # what worksteal sends this share
        left -= size
        ordered.extend(share)
        ordered.extend(item for _, item in zip(range(size - len(share)), queue, strict=False))
    ordered.extend(queue)
    items[:] = ordered


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Long tests where they do not hold up the end of the run (`_spread_long_tests`); and
    scale each property test's own `max_examples` (a profile cannot: a test's @settings wins
    over it) and drop its deadline."""
    workerinput = getattr(config, "workerinput", None)  # in an xdist worker: all order alike
    _spread_long_tests(items, int(workerinput["workercount"]) if workerinput else 1)
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
