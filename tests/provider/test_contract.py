"""Contract tests: the GestãoClick provider against the sandbox over real HTTP on loopback.

Round trips of cliente/produto/venda through create/get/update/list/find/deactivate/delete,
the documented value formats on the wire, both `meta` variants, base URL with and without
`/api`, and the error taxonomy for real error answers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC
from typing import Any

import pytest
from gc_helpers import cliente, make_cpf

from crmsync.config import IntegrationConfig
from crmsync.providers.base import AuthError, NotFoundError, Provider, ValidationError
from crmsync.providers.gestaoclick import GestaoClickProvider
from crmsync.providers.registry import available_providers, open_provider
from crmsync.sandbox.server import SandboxServer
from crmsync.settings import Settings

Make = Callable[..., GestaoClickProvider]


def test_registry_discovers_the_provider(sandbox: SandboxServer, settings: Settings) -> None:
    assert "gestao_click" in available_providers()
    provider = open_provider(
        "gestao_click",
        base_url=sandbox.base_url,
        credentials={"access-token": "sandbox-access-token", "secret-access-token": "sandbox-secret-token"},
        settings=settings,
        run_id="run-1",
    )
    try:
        assert isinstance(provider, Provider)
        assert provider.capabilities.page_size == 100
        assert provider.capabilities.rate_limit_per_second == 3.0
        assert provider.capabilities.daily_quota == 30000
        assert provider.capabilities.timezone == "America/Sao_Paulo"
        assert provider.capabilities.webhooks is False
        assert provider.capabilities.sort_by_modification is False
    finally:
        provider.close()
    with pytest.raises(LookupError, match=r"provedor desconhecido 'nao_existe'.*gestao_click"):
        open_provider("nao_existe", base_url="http://x", credentials={})


@pytest.mark.parametrize("suffix", ["", "/", "/api", "/api/"])
def test_cliente_round_trip(sandbox: SandboxServer, make_provider: Make, suffix: str) -> None:
    provider = make_provider(sandbox.base_url + suffix)
    data = cliente(1, rg="49.660.357-7", data_nascimento="1945-05-16", observacoes="nunca enviado")
    created = provider.create("cliente", data)

    # On the wire: GestãoClick's own spelling.
    raw = sandbox.panel_get("clientes", created.external_id)
    cpf = make_cpf(1)
    assert raw["cpf"] == f"{cpf[:3]}.{cpf[3:6]}.{cpf[6:9]}-{cpf[9:]}"
    assert raw["telefone"] == "(11) 3522-8899"
    assert raw["celular"] == "(96) 9 9194-9455"
    assert raw["ativo"] == "1"
    endereco = raw["enderecos"][0]["endereco"]
    assert endereco["cep"] == "31260-210" and endereco["nome_cidade"] == "Belo Horizonte"
    assert endereco["estado"] == "MG"

    # Back to canonical: digits, E.164, booleans; no observacoes (GestãoClick lacks it).
    got = provider.get("cliente", created.external_id)
    expected = {k: v for k, v in data.items() if k != "observacoes"}
    expected["email"] = "cliente1@example.com"
    for key, value in expected.items():
        assert got.data[key] == value, key
    assert "observacoes" not in got.data
    assert got.modified_at is not None and got.modified_at.tzinfo == UTC
    assert got.version == created.version and len(got.version) == 64

    # Partial update over `current` keeps everything else (full-object PUT).
    updated = provider.update("cliente", got.external_id, {"telefone": "+551133334444"}, current=got)
    assert updated.data["telefone"] == "+551133334444"
    assert updated.data["cpf"] == cpf and updated.data["cidade"] == "Belo Horizonte"
    assert updated.version != got.version
    raw_after = sandbox.panel_get("clientes", created.external_id)
    assert raw_after["rg"] == raw["rg"] and raw_after["data_nascimento"] == "1945-05-16"

    # Without `current` the provider reads the record first, so nothing is erased either.
    again = provider.update("cliente", got.external_id, {"cidade": "Contagem"})
    assert again.data["logradouro"] == "Rua Cassiano Campolina" and again.data["cidade"] == "Contagem"

    assert provider.find_by_keys("cliente", {"cpf": cpf}).external_id == created.external_id  # type: ignore[union-attr]
    by_mail = provider.find_by_keys("cliente", {"email": "CLIENTE1@example.com"})
    assert by_mail is not None and by_mail.external_id == created.external_id
    assert provider.find_by_keys("cliente", {"cpf": make_cpf(999)}) is None

    off = provider.deactivate("cliente", created.external_id)
    assert off.data["ativo"] is False and sandbox.panel_get("clientes", created.external_id)["ativo"] == "0"

    provider.delete("cliente", created.external_id)
    with pytest.raises(NotFoundError) as info:
        provider.get("cliente", created.external_id)
    assert info.value.request == f"GET /clientes/{created.external_id}"


def test_pj_cliente_and_modified_at_in_utc(provider: GestaoClickProvider, sandbox: SandboxServer) -> None:
    created = provider.create(
        "cliente",
        {
            "tipo_pessoa": "PJ",
            "nome": "Erick Jacquin Telas Ltda",
            "razao_social": "Erick Jacquin Telas Ltda",
            "cnpj": "43937086000196",
        },
    )
    raw = sandbox.panel_get("clientes", created.external_id)
    assert raw["cnpj"] == "43.937.086/0001-96" and raw["tipo_pessoa"] == "PJ"
    assert created.data["cnpj"] == "43937086000196"
    local = raw["modificado_em"]  # "YYYY-MM-DD HH:MM:SS", São Paulo
    assert created.modified_at is not None
    assert created.modified_at.astimezone(provider.zone).strftime("%Y-%m-%d %H:%M:%S") == local


def test_produto_round_trip(provider: GestaoClickProvider, sandbox: SandboxServer) -> None:
    data = {
        "nome": "Televisão Smart TV - LED 32",
        "codigo": "32355564390",
        "codigo_barra": "98412200100",
        "descricao": "Wi-fi, 32 polegadas",
        "valor_custo": "700.62",
        "valor_venda": "850.99",
        "estoque": "10",
        "ativo": True,
    }
    created = provider.create("produto", data)
    raw = sandbox.panel_get("produtos", created.external_id)
    assert raw["codigo_interno"] == "32355564390" and raw["valor_custo"] == "700.6200"
    assert raw["estoque"] == 10 and raw["ativo"] == "1"
    got = provider.get("produto", created.external_id)
    assert got.data == {
        "nome": data["nome"],
        "codigo": "32355564390",
        "codigo_barra": "98412200100",
        "descricao": "Wi-fi, 32 polegadas",
        "valor_custo": "700.6200",
        "valor_venda": "850.9900",
        "estoque": "10.0000",
        "ativo": True,
    }
    assert "unidade" not in got.data  # GestãoClick has no such field: never reported as erased

    updated = provider.update("produto", got.external_id, {"valor_venda": "899.90", "estoque": "7"}, current=got)
    assert updated.data["valor_venda"] == "899.9000" and updated.data["estoque"] == "7.0000"
    assert updated.data["codigo_barra"] == "98412200100"
    raw = sandbox.panel_get("produtos", created.external_id)
    assert raw["valor_venda"] == "899.9000"
    assert {v["valor_venda"] for v in raw["valores"]} == {"850.9900"}  # per-type prices untouched

    found = provider.find_by_keys("produto", {"codigo": "32355564390"})
    assert found is not None and found.external_id == created.external_id
    assert provider.find_by_keys("produto", {"codigo": "3235556439"}) is None  # exact match only
    assert provider.deactivate("produto", created.external_id).data["ativo"] is False


def test_venda_round_trip(provider: GestaoClickProvider, sandbox: SandboxServer) -> None:
    c = provider.create("cliente", cliente(2))
    p1 = provider.create("produto", {"nome": "Blusão", "codigo": "0222", "valor_custo": "80", "valor_venda": "120"})
    p2 = provider.create("produto", {"nome": "Meia", "codigo": "0223", "valor_custo": "5", "valor_venda": "12.5"})
    data: dict[str, Any] = {
        "cliente_id": c.external_id,
        "data": "2026-01-27",
        "situacao": "Confirmado",
        "observacoes": "entregar pela manhã",
        "itens": [
            {"produto_id": p1.external_id, "quantidade": "2", "valor_unitario": "120", "desconto": "10"},
            {"produto_id": p2.external_id, "quantidade": "3", "valor_unitario": "12.50", "desconto": "0"},
        ],
    }
    created = provider.create("venda", data)
    raw = sandbox.panel_get("vendas", created.external_id)
    assert raw["produtos"][0]["produto"]["produto_id"] == int(p1.external_id)
    assert raw["nome_situacao"] == "Confirmado"
    got = provider.get("venda", created.external_id)
    assert got.data["codigo"] == raw["codigo"]
    assert got.data["cliente_id"] == c.external_id and got.data["data"] == "2026-01-27"
    assert got.data["situacao"] == "Confirmado" and got.data["valor_total"] == "267.5000"
    assert got.data["observacoes"] == "entregar pela manhã"
    assert got.data["itens"] == [
        {
            "produto_id": p1.external_id,
            "quantidade": "2.0000",
            "valor_unitario": "120.0000",
            "desconto": "10.0000",
        },
        {
            "produto_id": p2.external_id,
            "quantidade": "3.0000",
            "valor_unitario": "12.5000",
            "desconto": "0.0000",
        },
    ]
    situacoes = {s["nome"] for s in provider._load_situacoes()}
    other = next(s for s in sorted(situacoes) if s != "Confirmado")
    updated = provider.update("venda", got.external_id, {"situacao": other.upper()}, current=got)
    assert updated.data["situacao"] == other and len(updated.data["itens"]) == 2

    found = provider.find_by_keys("venda", {"codigo": raw["codigo"]})
    assert found is not None and found.external_id == created.external_id
    with pytest.raises(ValidationError) as info:
        provider.update("venda", got.external_id, {"situacao": "Inexistente"}, current=got)
    assert "situacao" in info.value.fields


def test_listing_follows_pages_with_both_meta_variants(make_provider: Make) -> None:
    with SandboxServer(
        rate_limit=0, daily_quota=0, seed=3, seed_records={"clientes": 230, "produtos": 120, "vendas": 0}
    ) as sb:
        provider = make_provider(sb.base_url + "/api")
        pages = list(provider.iter_pages("cliente"))
        assert [p.page for p in pages] == [1, 2, 3]
        assert [len(p.records) for p in pages] == [100, 100, 30]
        assert all(p.total == 230 for p in pages) and not any(p.errors for p in pages)
        assert len({r.external_id for p in pages for r in p.records}) == 230
        prod_pages = list(provider.iter_pages("produto"))  # meta variant B
        assert [len(p.records) for p in prod_pages] == [100, 20]
        assert prod_pages[0].next_page == 2 and prod_pages[1].next_page is None
        assert provider.list_page("cliente", 2).next_page == 3


def test_sort_by_modification_only_when_configured(make_provider: Make, sandbox: SandboxServer) -> None:
    provider = make_provider(sandbox.base_url, config=IntegrationConfig(ordenar_por_modificacao=True))
    assert provider.capabilities.sort_by_modification is True
    provider.list_page("cliente", 1, newest_first=True)
    assert sandbox.requests()[-1]["path"].endswith("/clientes")
    plain = make_provider(sandbox.base_url)
    plain.list_page("cliente", 1)


def test_error_answers_map_to_the_taxonomy(sandbox: SandboxServer, make_provider: Make) -> None:
    provider = make_provider(sandbox.base_url)
    with pytest.raises(ValidationError) as info:
        provider.client.call("POST", "clientes", body={"email": "x@y.z"}, idempotent=False)
    assert {"tipo_pessoa", "nome"} <= set(info.value.fields)
    assert info.value.request == "POST /clientes"
    with pytest.raises(NotFoundError):
        provider.get("produto", "987654")
    with pytest.raises(ValidationError) as local:
        provider.create("produto", {"nome": "Sem código"})  # refused before sending
    assert "codigo_interno" in local.value.fields
    bad = make_provider(sandbox.base_url, credentials={"access_token": "errado", "secret_access_token": "errado"})
    with pytest.raises(AuthError) as auth:
        bad.list_page("cliente")
    assert "errado" not in str(auth.value)
