"""Static lookup tables of the sandbox company (what a fresh GestãoClick account would list).

Ids look like the real ones in the docs samples so payloads copied from the reference work.
"""

from __future__ import annotations

from typing import Any

SITUACOES_VENDAS: list[dict[str, Any]] = [
    {"id": "3150", "nome": "Confirmado", "cor": "#00a65a", "padrao": "1", "tipo_lancamento": "1"},
    {"id": "3151", "nome": "Em aberto", "cor": "#f39c12", "padrao": "0", "tipo_lancamento": "0"},
    {"id": "3152", "nome": "Em andamento", "cor": "#3c8dbc", "padrao": "0", "tipo_lancamento": "2"},
    {"id": "3153", "nome": "Concretizada", "cor": "#00c0ef", "padrao": "0", "tipo_lancamento": "1"},
    {"id": "3154", "nome": "Cancelado", "cor": "#dd4b39", "padrao": "0", "tipo_lancamento": "0"},
]

FORMAS_PAGAMENTOS: list[dict[str, Any]] = [
    {"id": "640517", "nome": "Dinheiro à Vista", "conta_bancaria_id": "1", "nome_conta_bancaria": "Caixa"},
    {"id": "579722", "nome": "Boleto Bancário", "conta_bancaria_id": "2", "nome_conta_bancaria": "BB"},
    {"id": "579723", "nome": "Cartão de Crédito", "conta_bancaria_id": "2", "nome_conta_bancaria": "BB"},
    {"id": "579724", "nome": "Cartão de Débito", "conta_bancaria_id": "2", "nome_conta_bancaria": "BB"},
    {"id": "579725", "nome": "PIX", "conta_bancaria_id": "2", "nome_conta_bancaria": "BB"},
]

LOJAS: list[dict[str, Any]] = [
    {
        "id": "1",
        "nome": "Matriz",
        "matriz": "1",
        "cnpj": "36.058.120/0001-97",
        "cidade": "Belo Horizonte",
        "estado": "MG",
    },
    {
        "id": "2",
        "nome": "Savassi",
        "matriz": "0",
        "cnpj": "36.058.120/0002-78",
        "cidade": "Belo Horizonte",
        "estado": "MG",
    },
]

DEFAULT_LOJA_ID = "1"

# Price types ("tipos de valores") used to fill produto.valores.
TIPOS_VALORES: list[dict[str, str]] = [
    {"tipo_id": "90864", "nome_tipo": "Varejo"},
    {"tipo_id": "90872", "nome_tipo": "Atacado"},
]

GRUPOS_PRODUTOS: dict[str, str] = {
    "803218": "Eletrônicos",
    "803219": "Vestuário",
    "803220": "Alimentos",
    "803221": "Papelaria",
    "803222": "Ferramentas",
}

TIPOS_CONTATOS: dict[str, str] = {"1307150": "Email", "1307151": "Telefone", "1307152": "Celular"}

LOOKUPS: dict[str, list[dict[str, Any]]] = {
    "situacoes_vendas": SITUACOES_VENDAS,
    "formas_pagamentos": FORMAS_PAGAMENTOS,
    "lojas": LOJAS,
}


def find(table: list[dict[str, Any]], id_: Any) -> dict[str, Any] | None:
    key = str(id_).strip() if id_ is not None else ""
    for row in table:
        if row["id"] == key:
            return row
    return None
