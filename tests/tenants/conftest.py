"""Fixtures of the many-stores tests: the real app served by uvicorn on a free loopback port
(real concurrent HTTP requests), on a fresh database of each kind."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import uvicorn
from db_templates import migrate
from sqlalchemy.orm import Session

from crmsync.api.app import create_app
from crmsync.db.local import Loja
from crmsync.db.session import dispose_engines
from crmsync.db.sync import CrmIntegracao
from crmsync.services.integracoes import create_integracao
from crmsync.services.lojas import create_loja
from crmsync.settings import reset_settings_cache

SECRET_KEY = "xJ7Ob0rNwrZ0Vq3r9mOe2jvV6lE4hN8XcZ1pQ5sT7uY="
ADMIN_TOKEN = "admin-token-for-tests"

if TYPE_CHECKING:
    from .hung_world import HungServer, HungWorld


@pytest.fixture
def hung() -> Iterator[HungServer]:
    """A CRM that takes the request and hangs until the test releases it (tests/tenants/hung_world.py)."""
    from .hung_world import HungServer  # it imports this module's helpers

    server = HungServer()
    yield server
    server.close()


def valid_cpf(base: int) -> str:
    """A CPF with correct check digits from a 9-digit number."""
    nums = [int(c) for c in f"{base:09d}"]
    for weight in (10, 11):
        total = sum(n * w for n, w in zip(nums, range(weight, 1, -1), strict=False))
        digit = (total * 10) % 11
        nums.append(0 if digit == 10 else digit)
    return "".join(map(str, nums))


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


class LiveApp:
    """The whole app in a uvicorn thread (lifespan off: no embedded worker)."""

    def __init__(self) -> None:
        # Bound here and handed to uvicorn: a port only looked up free could be taken by
        # another xdist worker before uvicorn binds it.
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        config = uvicorn.Config(create_app(), log_level="warning", access_log=False, lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        assert self.server.started, "the app did not start"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


@pytest.fixture
def live_app() -> Iterator[Callable[[], LiveApp]]:
    apps: list[LiveApp] = []

    def start() -> LiveApp:
        app = LiveApp()
        app.start()
        apps.append(app)
        return app

    yield start
    for app in apps:
        app.stop()
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
