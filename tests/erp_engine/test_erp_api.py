"""The local REST API on an ERP's own tables: the same canonical fields in and out, the
ERP's keys as ids, writes through the map (only mapped columns), its delete convention."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from erp_world import Erp
from fastapi.testclient import TestClient

from crmsync.api.app import create_app
from crmsync.crypto import hash_api_key
from crmsync.db.local import Loja

KEY = "crm_erp_api_test_key_0123456789abcdef"


@pytest.fixture
def api(erp: Erp) -> Iterator[TestClient]:
    with erp.sf() as s, s.begin():
        loja = s.get(Loja, 1)
        assert loja is not None
        loja.api_key_hash = hash_api_key(KEY)
    with TestClient(create_app(), headers={"Authorization": f"Bearer {KEY}"}) as client:
        yield client


def test_api_reads_and_writes_the_erps_rows_in_canonical_fields(erp: Erp, api: TestClient) -> None:
    r = api.get("/api/clientes/1")
    assert r.status_code == 200, r.text
    assert r.json()["nome"] == "José da Conceição" and r.json()["cpf"] == "11144477735"
    assert r.json()["razao_social"] is None  # a field this ERP does not map
    listed = api.get("/api/clientes", params={"limit": 50})  # legacy rows that do not convert still listed
    assert listed.status_code == 200 and [c["id"] for c in listed.json()["registros"]] == [1, 2, 3, 4, 5]
    r = api.get("/api/clientes", params={"cpf": "111.444.777-35"})
    assert r.status_code == 200 and [c["id"] for c in r.json()["registros"]] == [1]
    # create: the ERP's spelling in its columns, its insert defaults, nothing else
    r = api.post("/api/clientes", json={"nome": "Nova Pela API", "cpf": "39053344705", "email": "api@x.com"})
    assert r.status_code == 201, r.text
    new_id = r.json()["id"]
    row = erp.one(
        "SELECT razao, cpf, ativo, tipo_cad, cod_empresa, fantasia FROM cad_clientes WHERE cod_cli = :k", k=new_id
    )
    assert tuple(row) == ("Nova Pela API", "390.533.447-05", "S", "C", 1, None)
    # a duplicate key is a 409; a bad CPF a 422 naming the field; nothing written
    assert api.post("/api/clientes", json={"nome": "Outra", "cpf": "390.533.447-05"}).status_code == 409
    bad = api.post("/api/clientes", json={"nome": "Ruim", "cpf": "11144477700"})
    assert bad.status_code == 422 and "cpf" in bad.text
    # update: only the field sent; unmapped columns keep their bytes
    before = erp.one("SELECT fantasia, obs, tipo_cad FROM cad_clientes WHERE cod_cli = 2")
    r = api.put("/api/clientes/2", json={"email": "novo@paoquente.com.br"})
    assert r.status_code == 200, r.text
    assert erp.one("SELECT email FROM cad_clientes WHERE cod_cli = 2").email == "novo@paoquente.com.br"
    assert erp.one("SELECT fantasia, obs, tipo_cad FROM cad_clientes WHERE cod_cli = 2") == before
    # delete: the map's convention (hard delete here)
    r = api.delete(f"/api/clientes/{new_id}")
    assert r.status_code == 200, r.text
    assert erp.one("SELECT cod_cli FROM cad_clientes WHERE cod_cli = :k", k=new_id) is None
    assert api.get(f"/api/clientes/{new_id}").status_code == 404


def test_api_vendas_on_the_erps_pedidos(erp: Erp, api: TestClient) -> None:
    r = api.get("/api/vendas/1")
    assert r.status_code == 200, r.text
    venda = r.json()
    assert venda["id_cliente"] == 1 and venda["itens"][0]["id_produto"] == 1 and venda["situacao"] == "Em aberto"
    r = api.post(
        "/api/vendas",
        json={
            "id_cliente": 1,
            "data": "2024-05-06",
            "itens": [{"id_produto": 2, "quantidade": 3, "valor_unitario": 10}],
        },
    )
    assert r.status_code == 201, r.text
    num = r.json()["id"]
    pedido = erp.one("SELECT cod_cli, total FROM pedidos WHERE num_ped = :k", k=num)
    assert pedido.cod_cli == 1 and float(pedido.total) == 30.0
    items = erp.all("SELECT cod_prod, qtd FROM pedidos_itens WHERE num_ped = :k", k=num)
    assert [(i.cod_prod, float(i.qtd)) for i in items] == [(2, 3.0)]
    missing = api.post("/api/vendas", json={"id_cliente": 999, "data": "2024-05-06"})
    assert missing.status_code == 422
