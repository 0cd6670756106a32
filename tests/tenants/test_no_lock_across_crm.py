"""No database lock is held while a CRM is called: with store A's CRM hung (a loopback
server that takes the request and never answers), store B's writes go through on SQLite
while A's push is still blocked; a database locked by another writer answers /health 503."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from crmsync.db.session import session_scope
from crmsync.services.local_data import create_record

from .conftest import use_database, valid_cpf
from .hung_world import HungWorld, b_writes_while_a_waits, engine_of_a


def test_hung_crm_does_not_block_another_store(hung_world: HungWorld) -> None:
    with session_scope() as s:
        loja_a = hung_world.stores.loja_a
        cliente_id = create_record(s, loja_a, "cliente", {"nome": "Ana", "cpf": valid_cpf(100200300)}).id
    with engine_of_a(hung_world.stores) as engine:
        result = b_writes_while_a_waits(hung_world, lambda: engine.push_one("cliente", cliente_id), health=True)
    assert not result.success  # type: ignore[attr-defined]


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
