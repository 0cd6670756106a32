"""Fixtures for the ERP-engine acceptance tests (see erp_world.py).

Besides the three usual databases, the ERP tests run on the databases an old install really
has (issue #19): a MariaDB database whose default charset is latin1 (and one utf8mb3) and a
PostgreSQL database encoded LATIN1 with the C collation, crmsync's `crm_*` tables created in
it by the migrations, in the one-database layout.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from crmsync.db.session import dispose_engines
from crmsync.sandbox import SandboxServer
from crmsync.settings import reset_settings_cache

# pytest runs in importlib mode: make the helper module beside this file importable.
sys.path.insert(0, str(Path(__file__).parent))
from erp_world import ERP_KINDS, LEGACY_CHARSETS, MARIA_ADMIN_URL, PG_ADMIN_URL, Erp, attach, mark_server


@pytest.fixture
def erp_database(fresh_database: Any) -> Iterator[Callable[[str], str]]:
    """Factory: `erp_database(kind) -> url` of an empty database of any of ERP_KINDS (the
    legacy-charset ones created here, uniquely named, dropped after the test)."""
    created: list[tuple[str, str]] = []

    def make(kind: str) -> str:
        if kind not in LEGACY_CHARSETS:
            return str(fresh_database(kind))
        server, options = LEGACY_CHARSETS[kind]
        admin = PG_ADMIN_URL if server == "postgresql" else MARIA_ADMIN_URL
        name = f"crmsync_t_{uuid.uuid4().hex[:12]}"
        quoted = f'"{name}"' if server == "postgresql" else f"`{name}`"
        try:
            engine = create_engine(admin, isolation_level="AUTOCOMMIT")
            with engine.connect() as conn:
                conn.execute(text(f"CREATE DATABASE {quoted} {options}"))
            engine.dispose()
        except Exception as exc:  # the server is not there: the shared fixture says how to react
            fresh_database(server)  # skips, or fails under CI, with the server's reason
            raise AssertionError(f"could not create a {kind} database: {exc}") from exc
        created.append((server, name))
        return admin.rsplit("/", 1)[0] + "/" + name

    yield make
    dispose_engines()
    for server, name in created:
        admin = PG_ADMIN_URL if server == "postgresql" else MARIA_ADMIN_URL
        engine = create_engine(admin, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            if server == "postgresql":
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            else:
                conn.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
        engine.dispose()


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(rate_limit=0, daily_quota=0, seed=7, slow_seconds=0.2) as sb:
        yield sb


@pytest.fixture(params=ERP_KINDS)
def erp(
    request: pytest.FixtureRequest,
    erp_database: Callable[[str], str],
    sandbox: SandboxServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Iterator[Erp]:
    mark_server(request, request.param)
    world = attach(erp_database(request.param), sandbox, monkeypatch, tmp_path)
    yield world
    world.close()
    dispose_engines()
    reset_settings_cache()
