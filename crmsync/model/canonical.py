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
import re
from collections.abc import Callable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator, model_validator

from crmsync.fastjson import canonical_json_bytes
from crmsync.mapping import normalize as n

EntityType = Literal["cliente", "produto", "venda"]
ENTITY_TYPES: tuple[str, ...] = ("cliente", "produto", "venda")
#: each entity by its name and its plural (`clientes`, as the spec's config files and the
#: ERP's tables say them): the one list the config, the schema maps and the CLI read.
ENTITY_ALIASES: dict[str, str] = {**{e: e for e in ENTITY_TYPES}, **{e + "s": e for e in ENTITY_TYPES}}


class _Canon(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @model_validator(mode="before")
    @classmethod
    def _blank_strings_to_none(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            return {k: n.blank_to_none(v) for k, v in data.items()}
        return data


# A cliente's fields with a normaliser of their own (documents check-digit validated, e-mail
# lower case, phones E.164, CEP digits, UF upper case), for the model's validator and the
# fast path alike; free texts share `normalize_text`. Looked up by name on each call.
_CLIENTE_NORMALISERS: dict[str, str] = {
    "cpf": "normalize_cpf",
    "cnpj": "normalize_cnpj",
    "email": "normalize_email",
    "telefone": "normalize_phone",
    "celular": "normalize_phone",
    "cep": "normalize_cep",
    "estado": "normalize_uf",
}


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
        "nome",
        "razao_social",
        "logradouro",
        "complemento",
        "bairro",
        "cidade",
        "observacoes",
        "rg",
        "inscricao_estadual",
        "numero",
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

    @field_validator(*_CLIENTE_NORMALISERS)
    @classmethod
    def _normalised(cls, v: str | None, info: ValidationInfo) -> str | None:
        normaliser: Callable[[str | None], str | None] = getattr(n, _CLIENTE_NORMALISERS[info.field_name or ""])
        return normaliser(v)

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


def _canonicalize_reference(entity_type: str, data: Mapping[str, Any], *, partial: bool = False) -> dict[str, Any]:
    """The reference path, through the Pydantic model; `canonicalize` must always agree with it."""
    model = CANONICAL_MODELS[entity_type].model_validate(dict(data))
    dumped = model.model_dump(mode="json")
    if partial:
        return {k: dumped[k] for k in data if k in dumped}
    return dumped


_SURROGATE = re.compile("[\ud800-\udfff]")
_CLIENTE_TEXT = frozenset(
    (
        "razao_social",
        "rg",
        "inscricao_estadual",
        "logradouro",
        "numero",
        "complemento",
        "bairro",
        "cidade",
        "observacoes",
    )
)
_CLIENTE_FIELDS: tuple[str, ...] = tuple(ClienteCanon.model_fields)
_CLIENTE_DEFAULTS: dict[str, Any] = {
    name: f.default for name, f in ClienteCanon.model_fields.items() if not f.is_required()
}


def _cliente_fast(data: Mapping[str, Any], partial: bool) -> dict[str, Any] | None:
    """ClienteCanon's validation done in plain Python for the ordinary record (a str or None
    per text field, a real bool `ativo`, a known `tipo_pessoa`): the model's per-field
    dispatch was most of a large pull's mapping cost. Same normalisers, same order, same
    result; None for anything unusual or invalid, which then goes through the model (and
    gets its error messages from there). Kept in step with ClienteCanon by
    tests/core/test_normalize_fastpath.py, which compares the two on random records."""
    out: dict[str, Any] = {}
    for key, raw in data.items():
        value = n.blank_to_none(raw)
        if key == "ativo":
            if type(value) is not bool:
                return None
            out[key] = value
            continue
        if key == "data_nascimento":
            value = n.normalize_date(value, "data_nascimento")
        elif value is not None and type(value) is not str:
            return None
        if value is not None and not value.isascii() and _SURROGATE.search(value):
            return None  # pydantic refuses strings it cannot encode
        if key == "nome":
            value = n.normalize_text(value)
            if not value:
                return None
        elif key == "tipo_pessoa":
            if value not in ("PF", "PJ", "ES"):
                return None
        elif key in _CLIENTE_TEXT:
            value = n.normalize_text(value)
        elif key in _CLIENTE_NORMALISERS:
            normaliser: Callable[[str | None], str | None] = getattr(n, _CLIENTE_NORMALISERS[key])
            value = normaliser(value)
        elif key != "data_nascimento":
            return None  # unknown key: the model forbids it
        out[key] = value
    if "nome" not in out:
        return None  # required even in a partial record
    if partial:
        return out
    return {name: out[name] if name in out else _CLIENTE_DEFAULTS[name] for name in _CLIENTE_FIELDS}


def canonicalize(entity_type: str, data: Mapping[str, Any], *, partial: bool = False) -> dict[str, Any]:
    """Validate and normalise; return the canonical dict.

    With `partial=True` only the keys given are returned (a provider that lacks a field
    must not make it look erased), still normalised.
    """
    if entity_type == "cliente":
        try:
            fast = _cliente_fast(data, partial)
        except Exception:  # anything odd: the model decides and reports
            fast = None
        if fast is not None:
            return fast
    return _canonicalize_reference(entity_type, data, partial=partial)


def canonical_hash(record: Mapping[str, Any]) -> str:
    """Stable content hash: the dirty check compares it with the one stored on the link."""
    return hashlib.sha256(canonical_json_bytes(record)).hexdigest()
