"""Helpers of the foundation tests: stores created through the real service, and rows
created through the real API."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from fastapi.testclient import TestClient

from crmsync.db.session import session_scope
from crmsync.services.lojas import create_loja

ADMIN = {"Authorization": "Bearer admin-token-for-tests"}
CPF_OK = "529.982.247-25"
CPF_OK_2 = "111.444.777-35"
CNPJ_OK = "11.222.333/0001-81"
ACCESS = "gc-access-0123456789"
SECRET = "gc-secret-9876543210"


@dataclass
class Store:
    id: int
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


def make_store(nome: str = "Loja") -> Store:
    with session_scope() as session:
        loja, key = create_loja(session, nome)
        return Store(loja.id, key)


def post_integration(client: TestClient, loja_id: int, **fields: object) -> httpx.Response:
    """POST /api/admin/integracoes: a GestãoClick integration of that store (`fields` add or override)."""
    body = {
        "id_loja": loja_id,
        "base_url": "https://api.gestaoclick.com/",
        "access_token": ACCESS,
        "secret_access_token": SECRET,
        **fields,
    }
    return client.post("/api/admin/integracoes", json=body, headers=ADMIN)


def new_cliente(client: TestClient, store: Store, **fields: object) -> dict[str, object]:
    body = {"nome": "Maria Santos", **fields}
    r = client.post("/api/clientes", json=body, headers=store.headers)
    assert r.status_code == 201, r.text
    return r.json()


def new_produto(client: TestClient, store: Store, **fields: object) -> dict[str, object]:
    body = {"nome": "Caneta azul", "valor_venda": "2.50", **fields}
    r = client.post("/api/produtos", json=body, headers=store.headers)
    assert r.status_code == 201, r.text
    return r.json()


def new_venda(
    client: TestClient, store: Store, cliente_id: object, produto_id: object, **fields: object
) -> dict[str, object]:
    body = {
        "id_cliente": cliente_id,
        "data": "2026-01-15",
        "itens": [{"id_produto": produto_id, "quantidade": "2", "valor_unitario": "2.50"}],
        **fields,
    }
    r = client.post("/api/vendas", json=body, headers=store.headers)
    assert r.status_code == 201, r.text
    return r.json()
