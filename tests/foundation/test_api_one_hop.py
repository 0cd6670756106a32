"""A request the ERP makes on every save crosses the thread pool once: the key look-up (from
the cache) and the session are async dependencies, and the answer is validated and
serialized in the route's own thread (`crmsync.api.limits.ReleasingRoute`). Each crossing
is a queue hand-off and an event-loop wake-up; with five per request they were about a third
of a busy `serve` process's CPU. Counted at anyio's `to_thread.run_sync`, which every thread
pool crossing of Starlette and FastAPI goes through."""

from __future__ import annotations

from typing import Any

import anyio.to_thread
import pytest
from fastapi.testclient import TestClient

from .helpers import Store


@pytest.fixture
def hops(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    crossed: list[str] = []
    run_sync = anyio.to_thread.run_sync

    async def counting(func: Any, *args: Any, **kwargs: Any) -> Any:
        crossed.append(getattr(func, "__name__", repr(func)))
        return await run_sync(func, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counting)
    return crossed


def test_a_page_read_and_a_save_cross_the_thread_pool_once(client: TestClient, store: Store, hops: list[str]) -> None:
    assert client.get("/api/clientes?limit=1", headers=store.headers).status_code == 200  # key now cached
    hops.clear()
    page = client.get("/api/clientes?limit=1", headers=store.headers)
    assert page.status_code == 200
    assert len(hops) == 1, hops
    hops.clear()
    saved = client.post("/api/clientes", json={"nome": "Ana Lima"}, headers=store.headers)
    assert saved.status_code == 201, saved.text
    assert len(hops) == 1, hops
    hops.clear()
    one = client.get(f"/api/clientes/{saved.json()['id']}", headers=store.headers)
    assert one.json() == saved.json()
    assert len(hops) == 1, hops


def test_a_page_answers_the_rows_as_reading_one_does(client: TestClient, store: Store) -> None:
    """The page reads plain columns, reading one row loads it: both answer the same record."""
    for body in (
        {"nome": "Ana Lima", "email": "ana@example.com", "cpf": "529.982.247-25", "data_nascimento": "1990-05-01"},
        {"nome": "Bruno Reis", "telefone": "(11) 98765-4321"},
    ):
        assert client.post("/api/clientes", json=body, headers=store.headers).status_code == 201
    produto = {"nome": "Caneta", "codigo": "CAN-1", "valor_venda": "3.5", "valor_custo": 1, "estoque": "12.125"}
    assert client.post("/api/produtos", json=produto, headers=store.headers).status_code == 201
    for entity in ("clientes", "produtos"):
        page = client.get(f"/api/{entity}", headers=store.headers).json()
        assert page["total"] == len(page["registros"]) > 0
        for row in page["registros"]:
            assert client.get(f"/api/{entity}/{row['id']}", headers=store.headers).json() == row


def test_a_page_past_the_end_still_counts_the_rows(client: TestClient, store: Store) -> None:
    """The page carries the total beside each row (one statement); a page with no row counts apart."""
    for nome in ("Ana Lima", "Bruno Reis", "Carla Dias"):
        assert client.post("/api/clientes", json={"nome": nome}, headers=store.headers).status_code == 201
    first = client.get("/api/clientes?limit=1", headers=store.headers).json()
    assert (len(first["registros"]), first["total"]) == (1, 3)
    past = client.get("/api/clientes?limit=2&offset=10", headers=store.headers).json()
    assert (past["registros"], past["total"]) == ([], 3)
    nobody = "/api/clientes?limit=1&incluir_deletados=true&email=ninguem@example.com"
    deleted = client.get(nobody, headers=store.headers)
    assert deleted.json()["registros"] == [] and deleted.json()["total"] == 0
