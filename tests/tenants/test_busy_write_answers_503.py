"""A real API write on a SQLite database whose write lock another program holds answers 503
with Retry-After and a JSON detail (never a 500), writes nothing, and goes through once the
lock is released. The busy timeout is lowered through CRMSYNC_SQLITE_BUSY_TIMEOUT_SECONDS so
the test does not wait the production 30 s."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from crmsync.api.app import create_app
from crmsync.db.local import Cliente
from crmsync.db.session import session_scope
from crmsync.services.lojas import create_loja

from .conftest import use_database, valid_cpf


def test_locked_database_answers_503_on_a_write_and_writes_nothing(
    fresh_database: Callable[[str], str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = fresh_database("sqlite")
    monkeypatch.setenv("CRMSYNC_SQLITE_BUSY_TIMEOUT_SECONDS", "0.3")
    use_database(url, tmp_path, monkeypatch)
    with session_scope() as s:
        loja, key = create_loja(s, "Loja A")
        loja_id = loja.id
    headers = {"Authorization": f"Bearer {key}"}
    body = {"nome": "Ana", "cpf": valid_cpf(100200300)}
    with TestClient(create_app(), raise_server_exceptions=False) as client:
        holder = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        try:
            holder.execute("BEGIN IMMEDIATE")  # another program holds the write lock
            r = client.post("/api/clientes", json=body, headers=headers)
            assert r.status_code == 503, r.text
            assert int(r.headers["Retry-After"]) >= 1
            assert isinstance(r.json()["detail"], str) and r.json()["detail"]
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        with session_scope() as s:
            count = s.scalar(select(func.count()).select_from(Cliente).where(Cliente.id_loja == loja_id))
        assert count == 0
        r = client.post("/api/clientes", json=body, headers=headers)
        assert r.status_code == 201, r.text
