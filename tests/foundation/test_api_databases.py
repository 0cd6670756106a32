"""The local API on each database (SQLite, PostgreSQL, MariaDB): the same answers, exact
money, UTC timestamps, filters and soft delete, whatever the backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from support.settings_env import settings_env

from crmsync.api.app import create_app
from crmsync.db.schema import upgrade

from .helpers import ADMIN, CPF_OK, make_store, new_cliente, new_produto, new_venda


@pytest.fixture
def db_client(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    with settings_env(monkeypatch, tmp_path, db_url, admin=True):
        upgrade(db_url)
        with TestClient(create_app()) as c:
            yield c


def test_local_api_on_every_database(db_client: TestClient) -> None:
    store, other = make_store("A"), make_store("B")
    h = store.headers
    cli = new_cliente(db_client, store, nome="Jo\u00e3o da Silva", email="joao@x.com", cpf=CPF_OK)
    prod = new_produto(db_client, store, codigo="P-1", valor_venda="1234567.8912", estoque="-3.5")
    assert prod["valor_venda"] == "1234567.8912" and prod["estoque"] == "-3.5000"
    venda = new_venda(db_client, store, cli["id"], prod["id"])
    got = db_client.get(f"/api/vendas/{venda['id']}", headers=h).json()
    assert got == venda
    assert got["cadastrado_em"].endswith("Z")

    assert db_client.post("/api/clientes", json={"nome": "X", "cpf": CPF_OK}, headers=h).status_code == 409
    assert db_client.get(f"/api/clientes/{cli['id']}", headers=other.headers).status_code == 404
    huge = 2**40  # beyond a 32-bit id column: still a plain 404/422, never a database error
    assert db_client.get(f"/api/clientes/{huge}", headers=h).status_code == 404
    r = db_client.post("/api/vendas", json={"id_cliente": huge, "data": "2026-01-01"}, headers=h)
    assert r.status_code == 422 and r.json()["detail"][0]["campo"] == "id_cliente"
    assert db_client.get(f"/api/vendas?id_cliente={huge}", headers=h).json()["total"] == 0
    assert db_client.get(f"/api/clientes?offset={huge}", headers=h).json()["registros"] == []
    assert db_client.get(f"/api/clientes?pagina={huge}&limite=500", headers=h).json()["registros"] == []
    assert db_client.get(f"/api/admin/integracoes/{huge}", headers=ADMIN).status_code == 404
    assert db_client.get(f"/api/admin/integracoes?id_loja={huge}", headers=ADMIN).json() == []
    assert db_client.get(f"/api/admin/lojas/{huge}", headers=ADMIN).status_code == 404

    upd = db_client.put(f"/api/clientes/{cli['id']}", json={"observacoes": "atualizado"}, headers=h).json()
    since = upd["modificado_em"]
    rows = db_client.get("/api/clientes", params={"modificado_desde": since}, headers=h).json()["registros"]
    assert [r["id"] for r in rows] == [cli["id"]]
    assert db_client.get("/api/clientes", params={"email": "JOAO@x.com"}, headers=h).json()["total"] == 1

    assert db_client.delete(f"/api/produtos/{prod['id']}", headers=h).status_code == 200
    assert db_client.get("/api/produtos", headers=h).json()["total"] == 0
    assert db_client.get("/api/produtos?incluir_deletados=true", headers=h).json()["total"] == 1
