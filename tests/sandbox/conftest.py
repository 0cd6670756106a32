"""Fixtures for the sandbox tests: a real uvicorn server on a free loopback port, real httpx."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from crmsync.sandbox import SandboxServer

CLIENTE_PF: dict[str, Any] = {
    "tipo_pessoa": "PF",
    "nome": "Otávio Juan Benício da Rosa",
    "razao_social": "",
    "cnpj": "",
    "inscricao_estadual": "",
    "inscricao_municipal": "",
    "cpf": "47718252620",
    "rg": "49.660.357-7",
    "data_nascimento": "1945-05-16",
    "telefone": "1125333532",
    "celular": "96926419455",
    "fax": "",
    "email": "otaviojuanbeniciodarosa-99@agaxtur.com.br",
    "ativo": "1",
    "contatos": [
        {
            "contato": {
                "nome": "Kevin Otávio Luan Cavalcanti",
                "contato": "kevin@casabellavidros.com.br",
                "cargo": "Gerente",
                "observacao": "[-------]",
            }
        }
    ],
    "enderecos": [
        {
            "endereco": {
                "cep": "31110700",
                "logradouro": "Rua Itararé",
                "numero": "329",
                "complemento": "",
                "bairro": "Concórdia",
                "cidade_id": "1411",
                "nome_cidade": "Belo Horizonte",
                "estado": "MG",
            }
        }
    ],
}

PRODUTO: dict[str, Any] = {
    "nome": "Televisão Smart TV - LED 32",
    "codigo_interno": "32355564390",
    "codigo_barra": "98412200100",
    "largura": "80",
    "altura": "50",
    "comprimento": "8",
    "ativo": "1",
    "grupo_id": "803218",
    "nome_grupo": "Eletrônicos",
    "descricao": "Televisão Smart TV com wi-fi 32 Polegadas",
    "estoque": "10",
    "valor_custo": "700.62",
    "valor_venda": "850.99",
    "ncm": "11010010",
    "cest": "0100200",
    "peso_liquido": "1,000",
    "peso_bruto": "1,550",
    "valor_aproximado_tributos": "1,00",
    "valor_fixo_pis": "1,0000",
    "valor_fixo_pis_st": "3.00",
    "valor_fixo_confins": "4.00",
    "valor_fixo_confins_st": "6.00",
}


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    """No rate limit, so contract tests can make as many calls as they like."""
    with SandboxServer(rate_limit=0) as server:
        yield server


@pytest.fixture
def client(sandbox: SandboxServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox.base_url, headers=sandbox.headers, timeout=10) as c:
        yield c


@pytest.fixture
def cliente_pf() -> dict[str, Any]:
    """The documented POST /clientes example (documents and phones sent as bare digits)."""
    return copy.deepcopy(CLIENTE_PF)


@pytest.fixture
def produto_body() -> dict[str, Any]:
    """The documented POST /produtos example (fiscal fields flat, comma decimals)."""
    return copy.deepcopy(PRODUTO)
