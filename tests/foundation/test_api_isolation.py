"""Tenant isolation: a store's key never reads, changes, deletes or learns of another store's
rows (404, the same answer as a row that does not exist), and lists never include them."""

from __future__ import annotations

from fastapi.testclient import TestClient

from .helpers import CPF_OK, Store, new_cliente, new_produto, new_venda

ENTITIES = ("clientes", "produtos", "vendas")


def test_every_route_is_scoped_to_the_calling_store(client: TestClient, store: Store, other_store: Store) -> None:
    cli = new_cliente(client, store, email="a@x.com", cpf=CPF_OK)
    prod = new_produto(client, store, codigo="P1")
    venda = new_venda(client, store, cli["id"], prod["id"], codigo="V1")
    ids = {"clientes": cli["id"], "produtos": prod["id"], "vendas": venda["id"]}
    updates = {
        "clientes": {"nome": "Hack"},
        "produtos": {"nome": "Hack"},
        "vendas": {"situacao": "Cancelada"},
    }
    before = {e: client.get(f"/api/{e}/{ids[e]}", headers=store.headers).json() for e in ENTITIES}

    intruder = other_store.headers
    missing = {e: client.get(f"/api/{e}/999999", headers=intruder) for e in ENTITIES}
    for entity in ENTITIES:
        url = f"/api/{entity}/{ids[entity]}"
        for response in (
            client.get(url, headers=intruder),
            client.put(url, json=updates[entity], headers=intruder),
            client.delete(url, headers=intruder),
        ):
            assert response.status_code == 404, (entity, response.request.method, response.text)
            # Same shape as a row that does not exist at all: nothing to learn from the answer.
            assert response.json().keys() == missing[entity].json().keys()
        listed = client.get(f"/api/{entity}?incluir_deletados=true", headers=intruder).json()
        assert listed["total"] == 0 and listed["registros"] == []

    # Filters on the other store's keys find nothing either.
    assert client.get("/api/clientes?email=a@x.com", headers=intruder).json()["total"] == 0
    assert client.get("/api/produtos?codigo=P1", headers=intruder).json()["total"] == 0
    assert client.get("/api/vendas?codigo=V1", headers=intruder).json()["total"] == 0

    # Nothing changed for the owner.
    for entity in ENTITIES:
        assert client.get(f"/api/{entity}/{ids[entity]}", headers=store.headers).json() == before[entity]
        assert client.get(f"/api/{entity}", headers=store.headers).json()["total"] == 1


def test_unique_keys_and_references_are_per_store(client: TestClient, store: Store, other_store: Store) -> None:
    cli = new_cliente(client, store, email="a@x.com", cpf=CPF_OK)
    prod = new_produto(client, store, codigo="P1")
    # The same CPF/e-mail/code in another store is a different customer/product, not a 409.
    other_cli = new_cliente(client, other_store, email="a@x.com", cpf=CPF_OK)
    other_prod = new_produto(client, other_store, codigo="P1")
    # A sale cannot reference another store's customer or product (422 naming the field).
    item = {"id_produto": prod["id"], "quantidade": 1, "valor_unitario": "1"}
    r = client.post(
        "/api/vendas",
        json={"id_cliente": cli["id"], "data": "2026-01-01", "itens": [item]},
        headers=other_store.headers,
    )
    assert r.status_code == 422 and r.json()["detail"][0]["campo"] == "id_cliente"
    r = client.post(
        "/api/vendas",
        json={"id_cliente": other_cli["id"], "data": "2026-01-01", "itens": [item]},
        headers=other_store.headers,
    )
    assert r.status_code == 422 and r.json()["detail"][0]["campo"] == "itens.0.id_produto"
    own = new_venda(client, other_store, other_cli["id"], other_prod["id"])
    r = client.put(f"/api/vendas/{own['id']}", json={"id_cliente": cli["id"]}, headers=other_store.headers)
    assert r.status_code == 422 and r.json()["detail"][0]["campo"] == "id_cliente"
