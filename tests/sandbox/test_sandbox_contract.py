"""The sandbox answers in the shapes of the GestãoClick reference (docs samples), over real HTTP."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from crmsync.sandbox import SandboxServer

STAMP = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
CLIENTE_KEYS = {
    "id",
    "tipo_pessoa",
    "nome",
    "razao_social",
    "cnpj",
    "inscricao_estadual",
    "inscricao_municipal",
    "cpf",
    "rg",
    "data_nascimento",
    "telefone",
    "celular",
    "fax",
    "email",
    "ativo",
    "contatos",
    "enderecos",
    "cadastrado_em",
    "modificado_em",
}
PRODUTO_KEYS = {
    "id",
    "nome",
    "codigo_interno",
    "codigo_barra",
    "possui_variacao",
    "possui_composicao",
    "movimenta_estoque",
    "peso",
    "largura",
    "altura",
    "comprimento",
    "ativo",
    "grupo_id",
    "nome_grupo",
    "descricao",
    "estoque",
    "valor_custo",
    "valor_venda",
    "valores",
    "variacoes",
    "fiscal",
    "cadastrado_em",
    "modificado_em",
}
VENDA_DOC_KEYS = {
    "id",
    "codigo",
    "cliente_id",
    "nome_cliente",
    "vendedor_id",
    "nome_vendedor",
    "tecnico_id",
    "nome_tecnico",
    "data",
    "previsao_entrega",
    "situacao_id",
    "nome_situacao",
    "valor_total",
    "transportadora_id",
    "nome_transportadora",
    "centro_custo_id",
    "nome_centro_custo",
    "aos_cuidados_de",
    "validade",
    "introducao",
    "observacoes",
    "observacoes_interna",
    "valor_frete",
    "nome_canal_venda",
    "nome_loja",
    "valor_custo",
    "condicao_pagamento",
    "situacao_financeiro",
    "situacao_estoque",
    "forma_pagamento_id",
    "data_primeira_parcela",
    "numero_parcelas",
    "intervalo_dias",
    "hash",
    "equipamentos",
    "pagamentos",
    "produtos",
    "servicos",
}
# The two shapes of GestãoClick's `meta` (in this order), sharing their navigation tail.
_META_NAVIGATION = [
    "pagina_atual",
    "limite_por_pagina",
    "pagina_anterior",
    "url_anterior",
    "proxima_pagina",
    "proxima_url",
]
META_A = ["total_registros", "total_da_pagina", *_META_NAVIGATION]
META_B = ["total_registros", "total_paginas", "total_registros_pagina", *_META_NAVIGATION]


def ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["code"] == 200 and body["status"] == "success"
    return body["data"]


def fail(response: httpx.Response, code: int) -> Any:
    assert response.status_code == code, response.text
    body = response.json()
    assert body["code"] == code and body["status"] == "error"
    return body["data"]


def make_venda(client: httpx.Client, cliente_id: str, produto_id: str, **extra: Any) -> dict[str, Any]:
    body = {
        "tipo": "produto",
        "cliente_id": cliente_id,
        "situacao_id": "3150",
        "data": "2020-01-27",
        "valor_frete": "10.00",
        "produtos": [
            {
                "produto": {
                    "produto_id": produto_id,
                    "quantidade": "2",
                    "valor_venda": "60.00",
                    "tipo_desconto": "R$",
                    "desconto_valor": "5.00",
                }
            }
        ],
        "pagamentos": [
            {"pagamento": {"data_vencimento": "2020-01-27", "valor": "125", "forma_pagamento_id": "640517"}}
        ],
        **extra,
    }
    return ok(client.post("/vendas", json=body))


def test_cliente_create_matches_documented_shape_and_formats(client: httpx.Client, cliente_pf: dict) -> None:
    data = ok(client.post("/api/clientes", json=cliente_pf))
    assert set(data) == CLIENTE_KEYS
    assert isinstance(data["id"], str) and data["id"].isdigit()
    assert data["cpf"] == "477.182.526-20"
    assert data["telefone"] == "(11) 2533-3532"
    assert data["celular"] == "(96) 9 2641-9455"
    assert data["razao_social"] is None and data["cnpj"] is None and data["fax"] is None  # "" -> null
    assert data["ativo"] == "1"
    contato = data["contatos"][0]["contato"]
    assert contato["nome"] == "Kevin Otávio Luan Cavalcanti"
    assert set(contato) == {"tipo_id", "nome_tipo", "nome", "contato", "cargo", "observacao"}
    endereco = data["enderecos"][0]["endereco"]
    assert endereco["cep"] == "31110-700" and endereco["cidade_id"] == "1411" and endereco["estado"] == "MG"
    assert endereco["complemento"] is None
    assert STAMP.match(data["cadastrado_em"]) and data["modificado_em"] == data["cadastrado_em"]
    # Served at both prefixes, identically.
    assert ok(client.get(f"/clientes/{data['id']}")) == ok(client.get(f"/api/clientes/{data['id']}")) == data


def test_pj_cnpj_is_formatted(client: httpx.Client) -> None:
    data = ok(
        client.post(
            "/clientes",
            json={
                "tipo_pessoa": "PJ",
                "nome": "Erick Jacquin Telas Ltda",
                "cnpj": "43937086000196",
                "telefone": "(31) 3333-4444",
            },
        )
    )
    assert data["cnpj"] == "43.937.086/0001-96" and data["cpf"] is None and data["telefone"] == "(31) 3333-4444"


def test_produto_shape_fiscal_nested_and_default_variation(client: httpx.Client, produto_body: dict) -> None:
    data = ok(client.post("/produtos", json=produto_body))
    assert set(data) == PRODUTO_KEYS
    assert data["valor_custo"] == "700.6200" and data["valor_venda"] == "850.9900"
    assert data["estoque"] == 10 and isinstance(data["estoque"], int)
    assert data["peso"] == "0.000" and data["largura"] == "80.000"
    assert data["nome_grupo"] == "Eletrônicos" and data["grupo_id"] == "803218"
    assert "ncm" not in data and data["fiscal"]["ncm"] == "11010010"
    assert data["fiscal"]["peso_bruto"] == "1.550"
    assert len(data["variacoes"]) == 1
    variacao = data["variacoes"][0]["variacao"]
    assert variacao["nome"] == "" and variacao["id"].isdigit() and variacao["estoque"] == "10.00"
    assert data["possui_variacao"] == "0"
    assert {v["nome_tipo"] for v in data["valores"]} >= {"Varejo", "Atacado"}


def test_produto_with_named_variations(client: httpx.Client, produto_body: dict) -> None:
    produto_body["variacoes"] = [
        {"variacao": {"nome": "Creme", "estoque": "10"}},
        {"variacao": {"nome": "Azul", "estoque": "5"}},
    ]
    del produto_body["estoque"]
    data = ok(client.post("/produtos", json=produto_body))
    assert data["possui_variacao"] == "1" and data["estoque"] == 15
    assert [v["variacao"]["nome"] for v in data["variacoes"]] == ["Creme", "Azul"]


def test_venda_shape_totals_and_references(client: httpx.Client, cliente_pf: dict, produto_body: dict) -> None:
    cliente = ok(client.post("/clientes", json=cliente_pf))
    produto = ok(client.post("/produtos", json=produto_body))
    venda = make_venda(client, cliente["id"], produto["id"])
    assert set(venda) >= VENDA_DOC_KEYS
    assert venda["valor_total"] == "125.00"  # 2 * 60 - 5 + 10 frete
    assert venda["nome_cliente"] == cliente["nome"] and venda["nome_situacao"] == "Confirmado"
    assert isinstance(venda["hash"], str) and len(venda["hash"]) == 7
    assert venda["codigo"].isdigit()
    item = venda["produtos"][0]["produto"]
    assert item["produto_id"] == int(produto["id"]) and isinstance(item["variacao_id"], int)
    assert item["valor_total"] == "115.00" and item["quantidade"] == "2.00"
    pagamento = venda["pagamentos"][0]["pagamento"]
    assert pagamento["valor"] == "125.00" and pagamento["nome_forma_pagamento"] == "Dinheiro à Vista"
    second = make_venda(client, cliente["id"], produto["id"])
    assert int(second["codigo"]) == int(venda["codigo"]) + 1
    given = make_venda(client, cliente["id"], produto["id"], codigo="797")
    assert given["codigo"] == "797"


def test_venda_reference_errors(client: httpx.Client, cliente_pf: dict) -> None:
    cliente = ok(client.post("/clientes", json=cliente_pf))
    errors = fail(client.post("/vendas", json={"cliente_id": "999", "situacao_id": "1", "data": "2020-01-01"}), 400)
    assert set(errors) == {"cliente_id", "situacao_id"}
    errors = fail(
        client.post(
            "/vendas",
            json={
                "cliente_id": cliente["id"],
                "situacao_id": "3150",
                "data": "2020-01-01",
                "produtos": [{"produto": {"produto_id": 4242, "quantidade": "1"}}],
            },
        ),
        400,
    )
    assert list(errors) == ["produtos.0.produto_id"]


@pytest.mark.parametrize(
    ("recurso", "required"),
    [
        ("clientes", {"tipo_pessoa", "nome"}),
        ("produtos", {"nome", "codigo_interno", "valor_custo"}),
        ("vendas", {"cliente_id", "situacao_id", "data"}),
    ],
)
def test_required_fields_on_create_and_put(
    client: httpx.Client, recurso: str, required: set[str], cliente_pf: dict, produto_body: dict
) -> None:
    errors = fail(client.post(f"/{recurso}", json={}), 400)
    assert isinstance(errors, dict) and set(errors) == required
    assert all(isinstance(m, str) and m for m in errors.values())
    created = ok(client.post("/clientes", json=cliente_pf)) if recurso == "clientes" else None
    if recurso == "produtos":
        created = ok(client.post("/produtos", json=produto_body))
    if recurso == "vendas":
        cliente = ok(client.post("/clientes", json=cliente_pf))
        created = ok(
            client.post("/vendas", json={"cliente_id": cliente["id"], "situacao_id": "3150", "data": "2024-05-01"})
        )
    assert created is not None
    errors = fail(client.put(f"/{recurso}/{created['id']}", json={"observacoes": "x"}), 400)
    assert set(errors) == required


def test_invalid_tipo_pessoa_and_invalid_json(client: httpx.Client) -> None:
    assert "tipo_pessoa" in fail(client.post("/clientes", json={"tipo_pessoa": "XX", "nome": "A"}), 400)
    message = fail(client.post("/clientes", content=b"{not json", headers={"content-type": "application/json"}), 400)
    assert isinstance(message, str) and "JSON" in message


def test_put_keeps_absent_fields_and_replaces_nested_lists(
    sandbox: SandboxServer, client: httpx.Client, cliente_pf: dict
) -> None:
    created = ok(client.post("/clientes", json=cliente_pf))
    sandbox.set_clock_offset(3600)  # an hour later, so modificado_em must move
    updated = ok(
        client.put(
            f"/clientes/{created['id']}",
            json={
                "tipo_pessoa": "PF",
                "nome": "Otávio Rosa",
                "enderecos": [{"endereco": {"cep": "01001000", "cidade_id": "3550", "estado": "SP"}}],
            },
        )
    )
    assert updated["nome"] == "Otávio Rosa"
    assert updated["cpf"] == created["cpf"] and updated["email"] == created["email"]
    assert updated["contatos"] == created["contatos"]
    assert [e["endereco"]["cep"] for e in updated["enderecos"]] == ["01001-000"]
    assert updated["cadastrado_em"] == created["cadastrado_em"]
    assert updated["modificado_em"] > created["modificado_em"]


def test_produto_put_updates_fiscal_and_keeps_variations(client: httpx.Client, produto_body: dict) -> None:
    created = ok(client.post("/produtos", json=produto_body))
    updated = ok(
        client.put(
            f"/produtos/{created['id']}",
            json={
                "nome": created["nome"],
                "codigo_interno": created["codigo_interno"],
                "valor_custo": "80",
                "ncm": "22222222",
                "estoque": 7,
            },
        )
    )
    assert updated["valor_custo"] == "80.0000" and updated["fiscal"]["ncm"] == "22222222"
    assert updated["fiscal"]["cest"] == "0100200"
    assert updated["variacoes"][0]["variacao"]["id"] == created["variacoes"][0]["variacao"]["id"]
    assert updated["estoque"] == 7 and updated["variacoes"][0]["variacao"]["estoque"] == "7.00"


def test_delete_is_hard_and_answers_a_message(client: httpx.Client, cliente_pf: dict) -> None:
    created = ok(client.post("/clientes", json=cliente_pf))
    assert ok(client.delete(f"/clientes/{created['id']}")) == "Cliente excluido com sucesso"
    assert fail(client.get(f"/clientes/{created['id']}"), 404) == "Registro não encontrado"
    assert fail(client.delete(f"/clientes/{created['id']}"), 404) == "Registro não encontrado"
    assert fail(client.put("/clientes/9999", json={"tipo_pessoa": "PF", "nome": "x"}), 404)


def test_auth_401_405_and_unknown_routes(sandbox: SandboxServer, client: httpx.Client) -> None:
    for headers in ({}, {"access-token": "sandbox-access-token", "secret-access-token": "wrong"}):
        r = httpx.get(sandbox.base_url + "/api/clientes", headers=headers)
        assert r.status_code == 401 and r.json()["status"] == "error" and r.json()["code"] == 401
    fail(client.delete("/situacoes_vendas/3150"), 405)
    fail(client.patch("/clientes/1", json={}), 405)
    fail(client.get("/api/nao_existe"), 404)


def test_lookups_are_seeded(client: httpx.Client) -> None:
    for recurso in ("situacoes_vendas", "formas_pagamentos", "lojas"):
        response = client.get(f"/api/{recurso}")
        rows = ok(response)
        assert rows and all(isinstance(r["id"], str) and r["nome"] for r in rows)
        assert list(response.json()["meta"]) == META_A
        assert ok(client.get(f"/{recurso}/{rows[0]['id']}")) == rows[0]
    situacao = ok(client.get("/situacoes_vendas/3150"))
    assert situacao["nome"] == "Confirmado" and situacao["tipo_lancamento"] in {"0", "1", "2", "3"}


def test_meta_variants_and_pagination_to_the_end(sandbox: SandboxServer, client: httpx.Client) -> None:
    sandbox.store.bulk_create("clientes", ({"tipo_pessoa": "PF", "nome": f"Cliente {i:03d}"} for i in range(45)))
    sandbox.store.bulk_create(
        "produtos", ({"nome": f"P{i}", "codigo_interno": f"C{i}", "valor_custo": "1"} for i in range(3))
    )
    first = client.get("/clientes", params={"limite": 20, "ordenacao": "nome", "direcao": "desc"}).json()
    assert list(first["meta"]) == META_A
    assert first["meta"]["total_registros"] == 45 and first["meta"]["total_da_pagina"] == 20
    assert first["meta"]["proxima_pagina"] == 2 and first["meta"]["pagina_anterior"] is None
    url = first["meta"]["proxima_url"]
    assert url.startswith("/api/clientes?") and "pagina=2" in url and "ordenacao=nome" in url
    seen = [r["nome"] for r in first["data"]]
    meta = first["meta"]
    while meta["proxima_pagina"] is not None:
        page = client.get(meta["proxima_url"]).json()  # relative to the host, as in the real API
        meta = page["meta"]
        assert meta["pagina_anterior"] == meta["pagina_atual"] - 1 and meta["url_anterior"]
        seen += [r["nome"] for r in page["data"]]
    assert meta["pagina_atual"] == 3 and meta["total_da_pagina"] == 5
    assert seen == sorted((f"Cliente {i:03d}" for i in range(45)), reverse=True)
    produtos = client.get("/produtos", params={"limite": 2}).json()["meta"]
    assert list(produtos) == META_B
    assert produtos["total_paginas"] == 2 and produtos["total_registros_pagina"] == 2
    clamped = client.get("/clientes", params={"limite": 500}).json()["meta"]
    assert clamped["limite_por_pagina"] == 100 and clamped["total_da_pagina"] == 45
    empty = client.get("/clientes", params={"pagina": 9}).json()
    assert empty["data"] == [] and empty["meta"]["proxima_pagina"] is None


def test_cliente_filters(sandbox: SandboxServer, client: httpx.Client, cliente_pf: dict) -> None:
    alvo = ok(client.post("/clientes", json=cliente_pf))
    ok(
        client.post(
            "/clientes",
            json={
                "tipo_pessoa": "PJ",
                "nome": "Padaria Pão Quente LTDA",
                "cnpj": "43937086000196",
                "email": "pao@quente.com.br",
                "ativo": "0",
                "telefone": "31988887777",
                "enderecos": [{"endereco": {"cidade_id": "3550", "estado": "SP"}}],
            },
        )
    )

    def ids(**params: str) -> list[str]:
        return [r["id"] for r in ok(client.get("/clientes", params=params))]

    assert ids(cpf_cnpj="47718252620") == [alvo["id"]]
    assert ids(cpf_cnpj="477.182.526-20") == [alvo["id"]]
    assert ids(nome="juan benício") == [alvo["id"]]
    assert ids(tipo_pessoa="PJ") != [alvo["id"]] and len(ids(tipo_pessoa="PJ")) == 1
    assert ids(email="otaviojuanbeniciodarosa-99@agaxtur.com.br") == [alvo["id"]]
    assert ids(telefone="(11) 2533-3532") == [alvo["id"]]
    assert ids(situacao="1") == [alvo["id"]] and len(ids(situacao="0")) == 1
    assert ids(cidade_id="1411") == [alvo["id"]] and ids(estado="mg") == [alvo["id"]]
    assert ids(id=alvo["id"]) == [alvo["id"]]
    assert ids(cpf_cnpj="00000000000") == []


def test_produto_and_venda_filters(client: httpx.Client, cliente_pf: dict, produto_body: dict) -> None:
    cliente = ok(client.post("/clientes", json=cliente_pf))
    tv = ok(client.post("/produtos", json=produto_body))
    mouse = ok(
        client.post(
            "/produtos",
            params={"loja_id": "2"},
            json={
                "nome": "Mouse sem fio",
                "codigo_interno": "M-1",
                "valor_custo": "20",
                "grupo_id": "803221",
                "ativo": "0",
            },
        )
    )

    def pids(**params: str) -> list[str]:
        return [r["id"] for r in ok(client.get("/produtos", params=params))]

    assert pids(nome="Smart") == [tv["id"]] and pids(codigo="M-1") == [mouse["id"]]
    assert pids(grupo_id="803221") == [mouse["id"]] and pids(ativo="1") == [tv["id"]]
    assert pids(loja_id="2") == [mouse["id"]]

    v1 = make_venda(client, cliente["id"], tv["id"], data="2024-01-10")
    v2 = make_venda(client, cliente["id"], tv["id"], data="2024-02-10", situacao_id="3151")
    v3 = make_venda(client, cliente["id"], tv["id"], data="2024-03-10", tipo="vendas_balcao", loja_id="2")

    def vids(**params: str) -> list[str]:
        return [r["id"] for r in ok(client.get("/vendas", params=params))]

    assert vids() == [v1["id"], v2["id"]]  # tipo defaults to "produto"
    assert vids(tipo="vendas_balcao") == [v3["id"]]
    assert vids(data_inicio="2024-02-01", data_fim="2024-02-28") == [v2["id"]]
    assert vids(situacao_id="3151") == [v2["id"]] and vids(cliente_id=cliente["id"]) == [v1["id"], v2["id"]]
    assert vids(codigo=v1["codigo"]) == [v1["id"]] and vids(nome="Otávio") == [v1["id"], v2["id"]]
    assert vids(tipo="vendas_balcao", loja_id="2") == [v3["id"]] and vids(loja_id="2") == []
    assert vids(id=v3["id"]) == [v3["id"]]
