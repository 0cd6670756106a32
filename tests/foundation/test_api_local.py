"""The local data API of one store: create, read, update, list and soft-delete clientes,
produtos and vendas, with the validation, uniqueness and timestamps the ERP relies on."""

from __future__ import annotations

import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from crmsync.db import hooks
from crmsync.db.local import Cliente, Produto, Venda
from crmsync.db.session import session_scope

from .helpers import CNPJ_OK, CPF_OK, CPF_OK_2, Store, new_cliente, new_produto, new_venda, post_integration


def _count(model: Any) -> int:
    with session_scope() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_cliente_lifecycle(client: TestClient, store: Store) -> None:
    created = new_cliente(
        client,
        store,
        nome="  Maria   Santos ",
        email="Maria@Email.COM",
        cpf=CPF_OK,
        telefone="(11) 3522-8899",
        data_nascimento="1990-05-01",
        cep="01310-100",
    )
    assert created["nome"] == "Maria Santos"
    assert created["email"] == "maria@email.com"
    assert created["cpf"] == "52998224725"
    assert created["telefone"] == "+551135228899"
    assert created["cep"] == "01310100"
    assert created["id_loja"] == store.id
    assert created["deletado_em"] is None
    cid = created["id"]

    got = client.get(f"/api/clientes/{cid}", headers=store.headers)
    assert got.status_code == 200
    assert got.json() == created

    time.sleep(0.01)  # the clock must move for modificado_em to be strictly later
    upd = client.put(f"/api/clientes/{cid}", json={"nome": "Maria S. Santos"}, headers=store.headers)
    assert upd.status_code == 200, upd.text
    body = upd.json()
    assert body["nome"] == "Maria S. Santos"
    assert body["email"] == "maria@email.com"  # untouched fields keep their values
    assert body["modificado_em"] > created["modificado_em"]
    assert body["cadastrado_em"] == created["cadastrado_em"]

    listed = client.get("/api/clientes", headers=store.headers).json()
    assert listed["total"] == 1
    assert [r["id"] for r in listed["registros"]] == [cid]

    time.sleep(0.01)
    deleted = client.delete(f"/api/clientes/{cid}", headers=store.headers)
    assert deleted.status_code == 200
    assert deleted.json()["deletado_em"] is not None
    assert deleted.json()["modificado_em"] > body["modificado_em"]
    assert client.get("/api/clientes", headers=store.headers).json()["total"] == 0
    with_deleted = client.get("/api/clientes?incluir_deletados=true", headers=store.headers).json()
    assert with_deleted["total"] == 1
    # The row stays (soft delete) and shows when it was deleted; it cannot be changed any more.
    assert client.get(f"/api/clientes/{cid}", headers=store.headers).json()["deletado_em"] is not None
    assert client.put(f"/api/clientes/{cid}", json={"nome": "X"}, headers=store.headers).status_code == 404
    assert client.delete(f"/api/clientes/{cid}", headers=store.headers).status_code == 404
    assert _count(Cliente) == 1


def test_produto_and_venda_lifecycle(client: TestClient, store: Store) -> None:
    cliente = new_cliente(client, store)
    caneta = new_produto(client, store, codigo="CAN-1", valor_custo=1, estoque="10")
    lapis = new_produto(client, store, nome="Lápis", codigo="LAP-1", valor_venda=1.25)
    assert caneta["valor_venda"] == "2.5000"
    assert caneta["valor_custo"] == "1.0000"
    assert lapis["valor_venda"] == "1.2500"

    venda = new_venda(client, store, cliente["id"], caneta["id"], codigo="V-1")
    assert venda["valor_total"] == "5.0000"  # sum of the items when not given
    assert venda["itens"][0]["id_produto"] == caneta["id"]
    assert venda["itens"][0]["quantidade"] == "2.0000"
    assert venda["itens"][0]["valor_total"] == "5.0000"
    assert venda["situacao"] == "Em aberto"

    upd = client.put(
        f"/api/vendas/{venda['id']}",
        json={
            "situacao": "Concretizada",
            "itens": [{"id_produto": lapis["id"], "quantidade": 4, "valor_unitario": "1.25", "desconto": "0.50"}],
        },
        headers=store.headers,
    )
    assert upd.status_code == 200, upd.text
    body = upd.json()
    assert body["situacao"] == "Concretizada"
    assert [i["id_produto"] for i in body["itens"]] == [lapis["id"]]
    assert body["valor_total"] == "4.5000"
    assert body["modificado_em"] >= venda["modificado_em"]
    assert client.get(f"/api/vendas/{venda['id']}", headers=store.headers).json() == body

    upd = client.put(f"/api/produtos/{lapis['id']}", json={"estoque": "-2"}, headers=store.headers)
    assert upd.status_code == 200 and upd.json()["estoque"] == "-2.0000"

    assert client.get("/api/vendas", headers=store.headers).json()["total"] == 1
    assert client.delete(f"/api/vendas/{venda['id']}", headers=store.headers).status_code == 200
    assert client.get("/api/vendas", headers=store.headers).json()["total"] == 0
    assert client.delete(f"/api/produtos/{caneta['id']}", headers=store.headers).status_code == 200
    assert client.get("/api/produtos", headers=store.headers).json()["total"] == 1


def test_list_filters_and_pagination(client: TestClient, store: Store) -> None:
    a = new_cliente(client, store, nome="Ana", email="ana@x.com", cpf=CPF_OK)
    b = new_cliente(client, store, nome="Bruno", tipo_pessoa="PJ", cnpj=CNPJ_OK)
    c = new_cliente(client, store, nome="Carla", cpf=CPF_OK_2)
    h = store.headers

    def ids(query: str) -> list[int]:
        r = client.get(f"/api/clientes{query}", headers=h)
        assert r.status_code == 200, r.text
        return [row["id"] for row in r.json()["registros"]]

    assert ids("?email=ANA@x.com") == [a["id"]]
    assert ids(f"?cpf={CPF_OK}") == [a["id"]]
    assert ids("?cnpj=11222333000181") == [b["id"]]
    assert ids("?limit=2") == [a["id"], b["id"]]
    assert ids("?limit=2&offset=2") == [c["id"]]
    assert ids("?pagina=2&limite=1") == [b["id"]]
    page = client.get("/api/clientes?limit=1", headers=h).json()
    assert page["total"] == 3 and page["limit"] == 1 and page["offset"] == 0

    time.sleep(0.01)
    later = client.put(f"/api/clientes/{c['id']}", json={"observacoes": "VIP"}, headers=h).json()
    since = later["modificado_em"]
    assert ids(f"?modificado_desde={since.replace('+', '%2B')}") == [c["id"]]
    assert client.get("/api/clientes?modificado_desde=ontem", headers=h).status_code == 422
    assert client.get("/api/clientes?limit=0", headers=h).status_code == 422

    p = new_produto(client, store, codigo="ABC", codigo_barra="789000")
    new_produto(client, store, nome="Outro", codigo="XYZ")
    assert [r["id"] for r in client.get("/api/produtos?codigo=ABC", headers=h).json()["registros"]] == [p["id"]]
    by_barcode = client.get("/api/produtos?codigo_barra=789000", headers=h).json()["registros"]
    assert [r["id"] for r in by_barcode] == [p["id"]]
    v = new_venda(client, store, a["id"], p["id"], codigo="V-9")
    new_venda(client, store, b["id"], p["id"])
    assert [r["id"] for r in client.get("/api/vendas?codigo=V-9", headers=h).json()["registros"]] == [v["id"]]
    assert [r["id"] for r in client.get(f"/api/vendas?id_cliente={a['id']}", headers=h).json()["registros"]] == [
        v["id"]
    ]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("clientes", {"nome": "X", "cpf": "529.982.247-24"}, "cpf"),
        ("clientes", {"nome": "X", "cnpj": "11.222.333/0001-80"}, "cnpj"),
        ("clientes", {"nome": "X", "email": "not-an-email"}, "email"),
        ("clientes", {"nome": "X", "telefone": "12"}, "telefone"),
        ("clientes", {"nome": "X", "apelido": "Mari"}, "apelido"),
        ("clientes", {"nome": 123}, "nome"),
        ("clientes", {"nome": "X", "ativo": "talvez"}, "ativo"),
        ("clientes", {"nome": "X", "tipo_pessoa": "XX"}, "tipo_pessoa"),
        ("clientes", {"nome": "X", "data_nascimento": "01/05/1990"}, "data_nascimento"),
        ("clientes", {"nome": "X" * 201}, "nome"),
        ("clientes", {"nome": ""}, "nome"),
        ("clientes", {}, "nome"),
        ("produtos", {"nome": "P", "valor_venda": "abc"}, "valor_venda"),
        ("produtos", {"nome": "P", "valor_venda": "-1"}, "valor_venda"),
        ("produtos", {"nome": "P", "valor_custo": "99999999999"}, "valor_custo"),
        ("produtos", {"nome": "P", "cor": "azul"}, "cor"),
        ("produtos", {"nome": "P", "codigo": "C" * 61}, "codigo"),
    ],
)
def test_bad_cliente_or_produto_is_422_naming_the_field(
    client: TestClient, store: Store, path: str, body: dict[str, Any], field: str
) -> None:
    r = client.post(f"/api/{path}", json=body, headers=store.headers)
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert detail[0]["campo"] == field, detail
    assert "input" not in detail[0]
    assert _count({"clientes": Cliente, "produtos": Produto}[path]) == 0


def test_bad_update_is_422_and_changes_nothing(client: TestClient, store: Store) -> None:
    c = new_cliente(client, store, email="a@x.com")
    for body, field in [
        ({"cpf": "123"}, "cpf"),
        ({"email": "x@"}, "email"),
        ({"desconhecido": 1}, "desconhecido"),
        ({"nome": None}, "nome"),
    ]:
        r = client.put(f"/api/clientes/{c['id']}", json=body, headers=store.headers)
        assert r.status_code == 422, r.text
        assert r.json()["detail"][0]["campo"] == field
    assert client.get(f"/api/clientes/{c['id']}", headers=store.headers).json() == c


def test_bad_venda_is_422_naming_the_item(client: TestClient, store: Store) -> None:
    cli = new_cliente(client, store)
    prod = new_produto(client, store)
    item = {"id_produto": prod["id"], "quantidade": 1, "valor_unitario": "10"}
    cases: list[tuple[dict[str, Any], str]] = [
        ({"id_cliente": 999, "data": "2026-01-01", "itens": [item]}, "id_cliente"),
        (
            {"id_cliente": cli["id"], "data": "2026-01-01", "itens": [item, {**item, "id_produto": 999}]},
            "itens.1.id_produto",
        ),
        (
            {"id_cliente": cli["id"], "data": "2026-01-01", "itens": [{**item, "quantidade": 0}]},
            "itens.0.quantidade",
        ),
        (
            {"id_cliente": cli["id"], "data": "2026-01-01", "itens": [{**item, "desconto": "11"}]},
            "itens.0.desconto",
        ),
        ({"id_cliente": cli["id"], "data": "2026-01-01", "itens": [{**item, "extra": 1}]}, "itens.0.extra"),
        ({"id_cliente": cli["id"], "data": "amanhã", "itens": [item]}, "data"),
        ({"id_cliente": "um", "data": "2026-01-01", "itens": [item]}, "id_cliente"),
        ({"data": "2026-01-01", "itens": [item]}, "id_cliente"),
    ]
    for body, field in cases:
        r = client.post("/api/vendas", json=body, headers=store.headers)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["detail"][0]["campo"] == field, (body, r.json())
    # A deleted product cannot be sold either.
    client.delete(f"/api/produtos/{prod['id']}", headers=store.headers)
    r = client.post(
        "/api/vendas",
        json={"id_cliente": cli["id"], "data": "2026-01-01", "itens": [item]},
        headers=store.headers,
    )
    assert r.status_code == 422 and r.json()["detail"][0]["campo"] == "itens.0.id_produto"
    assert _count(Venda) == 0


def test_duplicates_are_409(client: TestClient, store: Store) -> None:
    first = new_cliente(client, store, email="maria@x.com", cpf=CPF_OK)
    h = store.headers
    for body in ({"nome": "Outra", "email": "MARIA@x.com"}, {"nome": "Outra", "cpf": "52998224725"}):
        r = client.post("/api/clientes", json=body, headers=h)
        assert r.status_code == 409, r.text
        assert isinstance(r.json()["detail"], str)
    pj = new_cliente(client, store, nome="Empresa", tipo_pessoa="PJ", cnpj=CNPJ_OK)
    assert client.post("/api/clientes", json={"nome": "E2", "cnpj": CNPJ_OK}, headers=h).status_code == 409
    # An update onto another row's key is refused; onto its own key is fine.
    assert client.put(f"/api/clientes/{pj['id']}", json={"cpf": CPF_OK}, headers=h).status_code == 409
    assert client.put(f"/api/clientes/{first['id']}", json={"cpf": CPF_OK}, headers=h).status_code == 200
    assert _count(Cliente) == 2
    # A deleted row frees its keys.
    client.delete(f"/api/clientes/{first['id']}", headers=h)
    new_cliente(client, store, email="maria@x.com", cpf=CPF_OK)

    new_produto(client, store, codigo="P1")
    assert client.post("/api/produtos", json={"nome": "Q", "codigo": "P1"}, headers=h).status_code == 409


def test_placeholder_emails_are_not_unique_keys(client: TestClient, store: Store) -> None:
    """Many customers without e-mail get "naotem@..." at the counter: never a 409 (the
    matcher does not link on it either), while a real shared e-mail still is."""
    h = store.headers
    for nome in ("Ana", "Bia", "Caio"):
        r = client.post("/api/clientes", json={"nome": nome, "email": "naotem@gmail.com"}, headers=h)
        assert r.status_code == 201, r.text
    assert (
        client.post("/api/clientes", json={"nome": "Davi", "email": "Nao.Tem@Gmail.com"}, headers=h).status_code == 201
    )
    new_cliente(client, store, email="eva@x.com")
    assert client.post("/api/clientes", json={"nome": "Eva 2", "email": "eva@x.com"}, headers=h).status_code == 409
    assert _count(Cliente) == 5


def test_a_stores_ignored_keys_are_not_unique_keys(client: TestClient, store: Store, other_store: Store) -> None:
    """The shop's shared address in its integration's `chaves_ignoradas` is never linked on,
    so several walk-in customers may hold it; another store, whose integration still links
    on it, keeps it unique."""
    for loja, config in ((store, {"chaves_ignoradas": ["Loja@Exemplo.com.br"]}), (other_store, {})):
        tokens = {"access_token": f"acc-{loja.id}", "secret_access_token": f"sec-{loja.id}"}
        r = post_integration(client, loja.id, provider="gestao_click", config=config, **tokens)
        assert r.status_code == 201, r.text
    for nome in ("Ana", "Bia"):
        new_cliente(client, store, nome=nome, email="loja@exemplo.com.br")
    new_cliente(client, store, nome="Ana ME", cnpj=CNPJ_OK)
    assert (
        client.post("/api/clientes", json={"nome": "Caio", "cnpj": CNPJ_OK}, headers=store.headers).status_code == 409
    )  # not in the list: still a key
    new_cliente(client, other_store, nome="Davi", email="loja@exemplo.com.br")
    assert (
        client.post(
            "/api/clientes", json={"nome": "Eva", "email": "loja@exemplo.com.br"}, headers=other_store.headers
        ).status_code
        == 409
    )
    assert _count(Cliente) == 4


def test_after_write_hook_fires_and_listener_errors_never_fail_a_save(client: TestClient, store: Store) -> None:
    calls: list[tuple[int, str, int]] = []

    def record(loja_id: int, entity_type: str, entity_id: int) -> None:
        calls.append((loja_id, entity_type, entity_id))

    def broken(loja_id: int, entity_type: str, entity_id: int) -> None:
        raise RuntimeError("CRM fora do ar")

    hooks.register_listener(broken)
    hooks.register_listener(record)
    try:
        c = new_cliente(client, store)
        client.put(f"/api/clientes/{c['id']}", json={"nome": "Outra"}, headers=store.headers)
        p = new_produto(client, store)
        v = new_venda(client, store, c["id"], p["id"])
        client.delete(f"/api/vendas/{v['id']}", headers=store.headers)
        # Refused writes do not fire it.
        client.post("/api/clientes", json={"nome": "X", "cpf": "1"}, headers=store.headers)
    finally:
        hooks.unregister_listener(broken)
        hooks.unregister_listener(record)
    assert calls == [
        (store.id, "cliente", c["id"]),
        (store.id, "cliente", c["id"]),
        (store.id, "produto", p["id"]),
        (store.id, "venda", v["id"]),
        (store.id, "venda", v["id"]),
    ]


def test_amounts_beyond_the_column_are_422_not_500(client: TestClient, store: Store) -> None:
    cli = new_cliente(client, store)
    prod = new_produto(client, store)
    big = {"id_produto": prod["id"], "quantidade": "99999", "valor_unitario": "999999"}
    body = {"id_cliente": cli["id"], "data": "2026-01-01", "itens": [big]}
    r = client.post("/api/vendas", json=body, headers=store.headers)
    assert r.status_code == 422 and r.json()["detail"][0]["campo"] == "itens.0.quantidade"
    half = {**big, "quantidade": "6000", "valor_unitario": "1000000"}
    r = client.post("/api/vendas", json={**body, "itens": [half, half]}, headers=store.headers)
    assert r.status_code == 422 and r.json()["detail"][0]["campo"] == "itens"
    assert _count(Venda) == 0
