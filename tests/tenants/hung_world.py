"""Two stores, A with a CRM that hangs: what the no-lock tests share.

`HungServer` takes a request and answers nothing until released (then a 503). The
`hung_world` fixture (tests/tenants/conftest.py; parametrize it indirectly with the
database kind) serves the live app on a fresh database with store A integrated with that
CRM and store B. `engine_of_a` is A's engine with one attempt and a long timeout (it
waits on the CRM until the test releases it), and `b_writes_while_a_waits` runs A's call
in a thread and checks, over the live API, that B's writes go through while it waits.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy.orm import Session

from crmsync.db.session import get_sessionmaker
from crmsync.engine import RunOptions, SyncEngine
from crmsync.services.lojas import create_loja

from .conftest import store_with_integration, valid_cpf
from .loopback import LoopbackServer, gestaoclick_at, head

# The world on SQLite (one write lock for the whole file) and on PostgreSQL.
on_sqlite_and_postgresql = pytest.mark.parametrize(
    "hung_world", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)


class HungServer(LoopbackServer):
    """Accepts connections and reads the request, then answers nothing until released (then
    a 503 and close): a CRM that hangs."""

    def __init__(self) -> None:
        self.got_request = threading.Event()
        self.release = threading.Event()
        super().__init__(self._hang)

    def _hang(self, _request_line: str) -> tuple[bytes, list[tuple[float, bytes]]]:
        self.got_request.set()
        self.release.wait()
        return head("503 Service Unavailable", 0), []

    def close(self) -> None:
        self.release.set()
        super().close()


@dataclass(frozen=True)
class TwoStores:
    loja_a: int
    key_b: str
    integ_id: int  # A's integration, with the hung CRM
    base_url: str


def two_stores(session: Session, hung: HungServer) -> TwoStores:
    """Store A integrated with the hung CRM, store B with its API key."""
    loja_a, _key_a, integ = store_with_integration(session, "Loja A", hung.url)
    _loja_b, key_b = create_loja(session, "Loja B")
    return TwoStores(loja_a=loja_a.id, key_b=key_b, integ_id=integ.id, base_url=hung.url)


def engine_of_a(stores: TwoStores) -> SyncEngine:
    """A's engine: one attempt, and a timeout long enough that only the release ends the call."""
    provider = gestaoclick_at(stores.base_url, timeout=120)
    return SyncEngine(get_sessionmaker(), stores.integ_id, provider=provider, options=RunOptions(trigger="manual"))


@dataclass(frozen=True)
class HungWorld:
    app_url: str
    stores: TwoStores
    hung: HungServer


def b_writes_while_a_waits(world: HungWorld, call_a: Callable[[], object], *, health: bool = False) -> object:
    """Run ``call_a`` (A's push or decision) in a thread; once it has called the hung CRM,
    B creates and edits a cliente while A still waits; then release the CRM. Returns what
    ``call_a`` returned, or the exception it raised."""
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(call_a())
        except Exception as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        assert world.hung.got_request.wait(60), "store A never called its CRM"
        store_b_writes(world.app_url, world.stores.key_b, health=health)
        assert thread.is_alive() and not world.hung.release.is_set()  # A still waits on its CRM
    finally:
        world.hung.release.set()
        thread.join(60)
    assert outcome, "store A's call did not end after the CRM answered"
    return outcome[0]


def store_b_writes(app_url: str, key_b: str, *, health: bool = False) -> None:
    """Store B creates and edits a cliente over the API (and finds the database healthy)."""
    with httpx.Client(base_url=app_url, timeout=120, headers={"Authorization": f"Bearer {key_b}"}) as c:
        r = c.post("/api/clientes", json={"nome": "Bia", "cpf": valid_cpf(100200301)})
        assert r.status_code == 201, r.text
        assert c.put(f"/api/clientes/{r.json()['id']}", json={"observacoes": "ok"}).status_code == 200
        if health:
            assert c.get("/health").json() == {"status": "ok", "database": "ok"}
