"""No database lock is held while a CRM is called: with store A's CRM hung (a loopback
server that takes the request and never answers), store B's writes go through on SQLite
while A's push is still blocked; a database locked by another writer answers /health 503."""

from __future__ import annotations

import socket
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from crmsync.config import parse_config
from crmsync.db.session import get_sessionmaker, session_scope
from crmsync.engine import RunOptions, SyncEngine
from crmsync.providers.gestaoclick import GestaoClickProvider
from crmsync.services.integracoes import create_integracao
from crmsync.services.local_data import create_record
from crmsync.services.lojas import create_loja

from .conftest import LiveApp, use_database, valid_cpf


class HungServer:
    """Accepts connections and reads the request, then answers nothing until released (then
    a 503 and close): a CRM that hangs."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.got_request = threading.Event()
        self.release = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.sock.settimeout(0.2)
        while not self.release.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            threading.Thread(target=self._hold, args=(conn,), daemon=True).start()

    def _hold(self, conn: socket.socket) -> None:
        with conn:
            conn.recv(65536)
            self.got_request.set()
            self.release.wait()
            conn.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

    def close(self) -> None:
        self.release.set()
        self.thread.join(5)
        self.sock.close()


@pytest.fixture
def hung() -> Iterator[HungServer]:
    server = HungServer()
    yield server
    server.close()


def test_hung_crm_does_not_block_another_store(
    fresh_database: Callable[[str], str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    live_app: Callable[[], LiveApp],
    hung: HungServer,
) -> None:
    use_database(fresh_database("sqlite"), tmp_path, monkeypatch)
    app = live_app()
    base_url = f"http://127.0.0.1:{hung.port}"
    with session_scope() as s:
        loja_a, _key_a = create_loja(s, "Loja A")
        _loja_b, key_b = create_loja(s, "Loja B")
        integ = create_integracao(
            s, loja_id=loja_a.id, provider="gestao_click", base_url=base_url, access_token="a", secret_access_token="b"
        )
        integ_id = integ.id
        cliente = create_record(s, loja_a.id, "cliente", {"nome": "Ana", "cpf": valid_cpf(100200300)})
        cliente_id = cliente.id
    provider = GestaoClickProvider(
        base_url,
        credentials={"access_token": "a", "secret_access_token": "b"},
        config=parse_config({}),
        rate_limit_per_second=None,
        daily_quota=None,
        max_attempts=1,
        timeout=120,
    )
    engine = SyncEngine(get_sessionmaker(), integ_id, provider=provider, options=RunOptions(trigger="manual"))
    results: list[object] = []
    pusher = threading.Thread(target=lambda: results.append(engine.push_one("cliente", cliente_id)), daemon=True)
    pusher.start()
    try:
        assert hung.got_request.wait(60), "store A's push never called its CRM"
        with httpx.Client(base_url=app.url, timeout=120, headers={"Authorization": f"Bearer {key_b}"}) as c:
            r = c.post("/api/clientes", json={"nome": "Bia", "cpf": valid_cpf(100200301)})
            assert r.status_code == 201, r.text
            assert c.put(f"/api/clientes/{r.json()['id']}", json={"observacoes": "ok"}).status_code == 200
            assert c.get("/health").json() == {"status": "ok", "database": "ok"}
        assert pusher.is_alive() and not hung.release.is_set()  # A's push is still waiting on its CRM
    finally:
        hung.release.set()
        pusher.join(60)
        engine.close()
    assert results and not results[0].success  # type: ignore[attr-defined]


def test_health_reports_a_database_that_cannot_take_writes(
    fresh_database: Callable[[str], str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fastapi.testclient import TestClient

    from crmsync.api.app import create_app

    url = fresh_database("sqlite")
    use_database(url, tmp_path, monkeypatch)
    with TestClient(create_app()) as client:
        assert client.get("/health").status_code == 200
        holder = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        try:
            holder.execute("BEGIN IMMEDIATE")  # another program holds the write lock
            r = client.get("/health")
            assert r.status_code == 503 and r.headers["Retry-After"]
            assert r.json()["database"] == "sem escrita"
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert client.get("/health").status_code == 200
