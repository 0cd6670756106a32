"""Fixtures of the many-stores tests: the real app served by uvicorn on a free loopback port
(real concurrent HTTP requests), on a fresh database of each kind."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from db_templates import migrate
from sqlalchemy.orm import Session
from support.documents import cpf_from
from support.live_app import LiveApp, started_servers
from support.rows import gestaoclick_store
from support.settings_env import SECRET_KEY, use_settings

from crmsync.db.local import Loja
from crmsync.db.session import dispose_engines
from crmsync.db.sync import CrmIntegracao
from crmsync.settings import reset_settings_cache

from .loopback import servers  # noqa: F401  (a fixture: the loopback servers a test starts)

__all__ = ["SECRET_KEY", "LiveApp", "store_with_integration", "use_database", "valid_cpf"]


if TYPE_CHECKING:
    from .hung_world import HungServer, HungWorld


@pytest.fixture
def hung() -> Iterator[HungServer]:
    """A CRM that takes the request and hangs until the test releases it (tests/tenants/hung_world.py)."""
    from .hung_world import HungServer  # it imports this module's helpers

    with HungServer() as server:
        yield server


def valid_cpf(base: int) -> str:
    """A CPF with correct check digits from a 9-digit number."""
    return cpf_from(base)


def store_with_integration(
    session: Session, name: str = "Loja", base_url: str = "http://127.0.0.1:9"
) -> tuple[Loja, str, CrmIntegracao]:
    """A store (and its API key) with a GestãoClick integration at ``base_url`` (by default
    nothing listens there)."""
    return gestaoclick_store(session, name, base_url, "a", "b")


def use_database(url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    use_settings(monkeypatch, tmp_path, url, queue=True, admin=True)
    migrate(url)  # a copy of the migrated template (tests/db_templates.py)


@pytest.fixture
def live_app() -> Iterator[Callable[[], LiveApp]]:
    yield from started_servers(LiveApp)
    dispose_engines()
    reset_settings_cache()


@pytest.fixture
def hung_world(
    request: pytest.FixtureRequest,
    fresh_database: Callable[[str], str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    live_app: Callable[[], LiveApp],
    hung: HungServer,
) -> HungWorld:
    """The live app on a fresh database (``request.param``: its kind, SQLite by default)
    with store A integrated with the hung CRM, and store B."""
    from crmsync.db.session import session_scope

    from .hung_world import HungWorld, two_stores

    use_database(fresh_database(getattr(request, "param", "sqlite")), tmp_path, monkeypatch)
    app = live_app()
    with session_scope() as s:
        stores = two_stores(s, hung)
    return HungWorld(app_url=app.url, stores=stores, hung=hung)
