"""Canonical records for cliente, produto and venda.

Both sides are mapped to these before anything is compared, hashed or merged: document
digits only and check-digit validated, e-mail lower case, phones E.164, decimals as strings
with four places, dates ISO. `canonicalize` returns a plain dict (JSON-able), the form the
merge, the matcher and the base snapshots use.

References inside a venda (`cliente_id`, `itens[].produto_id`) are ids in the namespace of
the side the record came from; the engine translates them through the links.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from crmsync.mapping import normalize as n

EntityType = Literal["cliente", "produto", "venda"]
ENTITY_TYPES: tuple[str, ...] = ("cliente", "produto", "venda")


class _Canon(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @model_validator(mode="before")
    @classmethod
    def _blank_strings_to_none(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            return {k: n.blank_to_none(v) for k, v in data.items()}
        return data


class ClienteCanon(_Canon):
    tipo_pessoa: Literal["PF", "PJ", "ES"] = "PF"
    nome: str
    razao_social: str | None = None
    cpf: str | None = None
    cnpj: str | None = None
    rg: str | None = None
    inscricao_estadual: str | None = None
    data_nascimento: str | None = None
    email: str | None = None
    telefone: str | None = None
    celular: str | None = None
    cep: str | None = None
    logradouro: str | None = None
    numero: str | None = None
    complemento: str | None = None
    bairro: str | None = None
    cidade: str | None = None
    estado: str | None = None
    ativo: bool = True
    observacoes: str | None = None

    @field_validator(
        "nome", "razao_social", "logradouro", "complemento", "bairro", "cidade", "observacoes", "rg",
        "inscricao_estadual", "numero",
    )
    @classmethod
    def _text(cls, v: str | None) -> str | None:
        return n.normalize_text(v)

    @field_validator("nome")
    @classmethod
    def _nome_required(cls, v: str | None) -> str:
        if not v:
            raise ValueError("nome é obrigatório")
        return v

    @field_validator("cpf")
    @classmethod
    def _cpf(cls, v: str | None) -> str | None:
        return n.normalize_cpf(v)

    @field_validator("cnpj")
    @classmethod
    def _cnpj(cls, v: str | None) -> str | None:
        return n.normalize_cnpj(v)

    @field_validator("email")
    @classmethod
    def _email(cls, v: str | None) -> str | None:
        return n.normalize_email(v)

    @field_validator("telefone", "celular")
    @classmethod
    def _phone(cls, v: str | None) -> str | None:
        return n.normalize_phone(v)

    @field_validator("cep")
    @classmethod
    def _cep(cls, v: str | None) -> str | None:
        return n.normalize_cep(v)

    @field_validator("estado")
    @classmethod
    def _uf(cls, v: str | None) -> str | None:
        return n.normalize_uf(v)

    @field_validator("data_nascimento", mode="before")
    @classmethod
    def _birth(cls, v: Any) -> str | None:
        return n.normalize_date(v, "data_nascimento")


class ProdutoCanon(_Canon):
    nome: str
    codigo: str | None = None
    codigo_barra: str | None = None
    descricao: str | None = None
    valor_custo: str = "0.0000"
    valor_venda: str = "0.0000"
    estoque: str = "0.0000"
    unidade: str | None = None
    ativo: bool = True

    @field_validator("nome", "codigo", "codigo_barra", "descricao", "unidade")
    @classmethod
    def _text(cls, v: str | None) -> str | None:
        return n.normalize_text(v)

    @field_validator("valor_custo", "valor_venda", "estoque", mode="before")
    @classmethod
    def _dec(cls, v: Any) -> str:
        return n.normalize_decimal(v, "valor") or "0.0000"


class ItemVendaCanon(_Canon):
    produto_id: str
    quantidade: str
    valor_unitario: str
    desconto: str = "0.0000"

    @field_validator("produto_id", mode="before")
    @classmethod
    def _ref(cls, v: Any) -> str:
        return str(v)

    @field_validator("quantidade", "valor_unitario", "desconto", mode="before")
    @classmethod
    def _dec(cls, v: Any) -> str:
        return n.normalize_decimal(v, "item") or "0.0000"


class VendaCanon(_Canon):
    codigo: str | None = None
    cliente_id: str
    data: str
    situacao: str | None = None
    valor_total: str = "0.0000"
    observacoes: str | None = None
    itens: list[ItemVendaCanon] = []

    @field_validator("cliente_id", "codigo", mode="before")
    @classmethod
    def _ref(cls, v: Any) -> str | None:
        return None if v is None else str(v)

    @field_validator("data", mode="before")
    @classmethod
    def _date(cls, v: Any) -> str:
        d = n.normalize_date(v, "data")
        if d is None:
            raise ValueError("data é obrigatória")
        return d

    @field_validator("valor_total", mode="before")
    @classmethod
    def _dec(cls, v: Any) -> str:
        return n.normalize_decimal(v, "valor_total") or "0.0000"


CANONICAL_MODELS: dict[str, type[_Canon]] = {
    "cliente": ClienteCanon,
    "produto": ProdutoCanon,
    "venda": VendaCanon,
}


def canonicalize(entity_type: str, data: Mapping[str, Any], *, partial: bool = False) -> dict[str, Any]:
    """Validate and normalise; return the canonical dict.

    With `partial=True` only the keys given are returned (a provider that lacks a field
    must not make it look erased), still normalised.
    """
    model = CANONICAL_MODELS[entity_type].model_validate(dict(data))
    dumped = model.model_dump(mode="json")
    if partial:
        return {k: dumped[k] for k in data if k in dumped}
    return dumped


def canonical_hash(record: Mapping[str, Any]) -> str:
    """Stable content hash: the dirty check compares it with the one stored on the link."""
    payload = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()
