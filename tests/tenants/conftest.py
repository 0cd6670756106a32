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

from crmsync.db.local import Loja
from crmsync.db.session import dispose_engines
from crmsync.db.sync import CrmIntegracao
from crmsync.services.integracoes import create_integracao
from crmsync.services.lojas import create_loja
from crmsync.settings import reset_settings_cache

from .loopback import servers  # noqa: F401  (a fixture: the loopback servers a test starts)

SECRET_KEY = "xJ7Ob0rNwrZ0Vq3r9mOe2jvV6lE4hN8XcZ1pQ5sT7uY="
ADMIN_TOKEN = "admin-token-for-tests"

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
    loja, key = create_loja(session, name)
    integ = create_integracao(
        session, loja_id=loja.id, provider="gestao_click", base_url=base_url, access_token="a", secret_access_token="b"
    )
    return loja, key, integ


def use_database(url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRMSYNC_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CRMSYNC_DATABASE_URL", url)
    monkeypatch.setenv("CRMSYNC_QUEUE_URL", f"sqlite:///{(tmp_path / 'queue.db').as_posix()}")
    monkeypatch.setenv("CRMSYNC_SECRET_KEY", SECRET_KEY)
    monkeypatch.setenv("CRMSYNC_ADMIN_TOKEN", ADMIN_TOKEN)
    reset_settings_cache()
    dispose_engines()
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
