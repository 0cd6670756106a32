"""Pure mapping rules: GestãoClick spellings both ways, merge over the current record,
time zone to UTC, and the request parameters of a listing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import httpx
import pytest

from crmsync.config import IntegrationConfig
from crmsync.providers.base import ProtocolError
from crmsync.providers.gestaoclick import GestaoClickProvider
from crmsync.providers.gestaoclick import mapping as m
from crmsync.providers.gestaoclick.client import normalise_base_url
from crmsync.providers.gestaoclick.pagination import PageMeta
from crmsync.providers.kit import PageAnswer, PageNumberPaginator

SP = ZoneInfo("America/Sao_Paulo")


@pytest.mark.parametrize(
    ("e164", "shown"),
    [
        ("+551135228899", "(11) 3522-8899"),
        ("+5596991949455", "(96) 9 9194-9455"),
        (None, None),
    ],
)
def test_phones_as_gestaoclick_shows_them(e164: str | None, shown: str | None) -> None:
    assert m.format_phone_gc(e164) == shown


def test_foreign_phone_keeps_its_country() -> None:
    assert m.format_phone_gc("+14155552671") == "+1 415-555-2671"


@pytest.mark.parametrize(
    ("value", "field", "out"),
    [
        ("700.6200", "valor_custo", "700.62"),
        ("10.0000", "estoque", "10"),
        ("60", "valor_venda", "60.00"),
        ("1,5", "quantidade", "1.5"),
    ],
)
def test_decimals_go_out_with_a_dot(value: str, field: str, out: str) -> None:
    assert m.format_decimal(value, field) == out


def test_modificado_em_is_sao_paulo_local_time() -> None:
    got = m.parse_local_timestamp("2024-11-01 11:46:10", SP)
    assert got == datetime(2024, 11, 1, 14, 46, 10, tzinfo=UTC)
    assert m.parse_local_timestamp(None, SP) is None
    with pytest.raises(m.MappingError):
        m.parse_local_timestamp("ontem", SP)


@pytest.mark.parametrize(("raw", "expected"), [("1", True), ("0", False), (1, True), ("true", True)])
def test_flags(raw: object, expected: bool) -> None:
    assert m.parse_flag(raw, "ativo") is expected


def test_cliente_fields_it_lacks_stay_out() -> None:
    data = m.cliente_from_remote({"nome": "Ana", "tipo_pessoa": "PF", "ativo": "0"})
    assert data == {"nome": "Ana", "tipo_pessoa": "PF", "ativo": False}
    assert "observacoes" not in data and "cidade" not in data
    no_address = m.cliente_from_remote({"nome": "Ana", "enderecos": []})
    assert no_address["cidade"] is None and no_address["cep"] is None  # known to be empty


def test_cliente_update_merges_over_current_and_drops_a_stale_city_id() -> None:
    current = {
        "id": "8",
        "tipo_pessoa": "PF",
        "nome": "Juao Carlos",
        "cpf": "792.727.480-54",
        "rg": "1",
        "contatos": [{"contato": {"nome": "X", "contato": "x@x.com"}}],
        "enderecos": [
            {
                "endereco": {
                    "cep": "31260-210",
                    "logradouro": "Rua A",
                    "numero": "10",
                    "cidade_id": "1411",
                    "nome_cidade": "Belo Horizonte",
                    "estado": "MG",
                }
            },
            {"endereco": {"cep": "01001-000", "nome_cidade": "São Paulo", "estado": "SP"}},
        ],
        "modificado_em": "2024-01-01 10:00:00",
    }
    body = m.cliente_to_remote({"cidade": "Contagem", "celular": "+5531988887777"}, current)
    assert "id" not in body and "modificado_em" not in body
    assert body["nome"] == "Juao Carlos" and body["rg"] == "1" and body["contatos"] == current["contatos"]
    first = body["enderecos"][0]["endereco"]
    assert first["nome_cidade"] == "Contagem" and "cidade_id" not in first and first["logradouro"] == "Rua A"
    assert body["enderecos"][1] == current["enderecos"][1]
    assert body["celular"] == "(31) 9 8888-7777"
    same_city = m.cliente_to_remote({"numero": "11"}, current)
    assert same_city["enderecos"][0]["endereco"]["cidade_id"] == "1411"


def test_cliente_create_fills_required_fields_or_refuses() -> None:
    assert m.cliente_to_remote({"nome": "ACME", "cnpj": "43937086000196"})["tipo_pessoa"] == "PJ"
    with pytest.raises(m.MappingError) as info:
        m.cliente_to_remote({"email": "a@b.com"})
    assert info.value.fields == {"nome": "obrigatório"}
    with pytest.raises(m.MappingError) as bad:
        m.cliente_to_remote({"nome": "A", "cpf": "111.111.111-12"})
    assert "cpf" in bad.value.fields


def test_produto_update_flattens_fiscal_and_keeps_named_variations() -> None:
    current = {
        "id": "320",
        "nome": "Blusão",
        "codigo_interno": "0222",
        "valor_custo": "80.0000",
        "estoque": 60,
        "fiscal": {"ncm": "6101", "peso_bruto": "1.550"},
        "variacoes": [{"variacao": {"id": "478", "nome": "Creme", "estoque": "10.00"}}],
    }
    body = m.produto_to_remote({"estoque": "5"}, current)
    assert body["ncm"] == "6101" and body["peso_bruto"] == "1.550" and "fiscal" not in body
    assert body["variacoes"] == current["variacoes"] and body["estoque"] == "5"
    unnamed = {**current, "variacoes": [{"variacao": {"id": "1", "nome": "", "estoque": "60.00"}}]}
    assert "variacoes" not in m.produto_to_remote({"estoque": "5"}, unnamed)


def test_venda_items_from_wrappers() -> None:
    raw = {
        "id": "505",
        "codigo": "795",
        "cliente_id": "1",
        "data": "2020-01-27",
        "situacao_id": "3150",
        "nome_situacao": "Confirmado",
        "valor_total": "60.00",
        "produtos": [
            {
                "produto": {
                    "produto_id": 1238787,
                    "variacao_id": 4152212,
                    "quantidade": "1.00",
                    "valor_venda": "60.00",
                    "desconto_valor": None,
                }
            }
        ],
    }
    data = m.venda_from_remote(raw, lambda _id: None)
    assert data["itens"] == [
        {"produto_id": "1238787", "quantidade": "1.0000", "valor_unitario": "60.0000", "desconto": "0.0000"}
    ]
    assert data["situacao"] == "Confirmado" and data["valor_total"] == "60.0000"
    body = m.venda_to_remote(
        {"itens": [{"produto_id": "1238787", "quantidade": "2", "valor_unitario": "60", "desconto": "5"}]},
        raw,
        lambda name: "3150",
    )
    item = body["produtos"][0]["produto"]
    assert item["variacao_id"] == 4152212 and item["quantidade"] == "2.00" and item["desconto_valor"] == "5.00"
    assert "valor_total" not in body and body["situacao_id"] == "3150"


def test_base_url_with_or_without_api() -> None:
    assert normalise_base_url("https://api.gestaoclick.com/api/") == (
        "https://api.gestaoclick.com/api",
        "https://api.gestaoclick.com",
    )
    assert normalise_base_url("")[0] == "https://api.gestaoclick.com"
    with pytest.raises(ValueError):
        normalise_base_url("api.gestaoclick.com")


def test_meta_fallback_to_total_paginas_and_paginator_guard() -> None:
    meta = PageMeta.parse({"pagina_atual": "2", "total_paginas": 3}, request="GET /produtos?pagina=2")
    assert meta.next_page == 3
    paginator = PageNumberPaginator()
    paginator.update_state(PageAnswer(page=1, items=[{}], next_page=2, request="GET /x?pagina=1"))
    with pytest.raises(ProtocolError, match="paginação em laço"):
        paginator.update_state(PageAnswer(page=2, items=[{}], next_page=1, request="GET /x?pagina=2"))


def test_listing_asks_for_modification_order_only_when_configured(
    make_provider: Callable[..., GestaoClickProvider],
) -> None:
    seen: list[dict[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(dict(request.url.params))
        return httpx.Response(
            200,
            json={
                "code": 200,
                "status": "success",
                "data": [],
                "meta": {"total_registros": 0, "pagina_atual": 1},
            },
        )

    sorted_provider = make_provider(
        "https://gc.test",
        http_transport=httpx.MockTransport(handler),
        config=IntegrationConfig(ordenar_por_modificacao=True, timezone="America/Manaus"),
    )
    sorted_provider.list_page("produto", 1, newest_first=True)
    plain = make_provider("https://gc.test", http_transport=httpx.MockTransport(handler))
    plain.list_page("produto", 1, newest_first=True)
    assert seen == [
        {"pagina": "1", "limite": "100", "ordenacao": "modificado_em", "direcao": "desc"},
        {"pagina": "1", "limite": "100"},
    ]
    assert sorted_provider.capabilities.timezone == "America/Manaus"
