"""GestãoClick JSON <-> canonical records.

Reading: only the fields the record actually carries go into the canonical dict, so a
field GestãoClick lacks (for example `observacoes` on clientes) is never mistaken for an
erased value. Values are then normalised by `canonicalize(..., partial=True)`: CPF/CNPJ to
digits, phones to E.164, flags to booleans, decimals to four places.

Writing: GestãoClick replaces the whole object on PUT, so the change is laid over the
record as we last read it (`current`), and the fields it requires (`tipo_pessoa`, `nome`;
produtos `nome`, `codigo_interno`, `valor_custo`) are always present. Values go back in the
API's own spelling: formatted documents and phones ("792.727.480-54", "(96) 9 9194-9455"),
"0"/"1" flags, dot decimals, wrapper objects (`{"endereco": {...}}`, `{"produto": {...}}`).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from crmsync.mapping import normalize as n
from crmsync.providers.kit.canonical import canonical_or_fail

RESOURCES: dict[str, str] = {"cliente": "clientes", "produto": "produtos", "venda": "vendas"}

# Top-level cliente fields that map one to one (canonical name == GestãoClick name).
_CLIENTE_DIRECT = (
    "tipo_pessoa",
    "nome",
    "razao_social",
    "cpf",
    "cnpj",
    "rg",
    "inscricao_estadual",
    "data_nascimento",
    "email",
    "telefone",
    "celular",
    "observacoes",
)
# canonical -> key inside enderecos[0].endereco
_ADDRESS = {
    "cep": "cep",
    "logradouro": "logradouro",
    "numero": "numero",
    "complemento": "complemento",
    "bairro": "bairro",
    "cidade": "nome_cidade",
    "estado": "estado",
}
# canonical -> GestãoClick produto key
_PRODUTO = {
    "nome": "nome",
    "codigo": "codigo_interno",
    "codigo_barra": "codigo_barra",
    "descricao": "descricao",
    "valor_custo": "valor_custo",
    "valor_venda": "valor_venda",
    "estoque": "estoque",
}
# Read-only keys we never send back.
_READ_ONLY = ("id", "cadastrado_em", "modificado_em")
# The product's ``fiscal`` object (flat on a create or PUT, nested in answers): read also by
# the sandbox, which fakes the same API.
FISCAL_FIELDS = (
    "ncm",
    "cest",
    "peso_liquido",
    "peso_bruto",
    "valor_aproximado_tributos",
    "valor_fixo_pis",
    "valor_fixo_pis_st",
    "valor_fixo_confins",
    "valor_fixo_confins_st",
)


class MappingError(ValueError):
    """One record could not be mapped; `fields` names the culprits (shown to the user)."""

    def __init__(self, message: str, fields: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.fields = dict(fields or {})


# ----------------------------------------------------------------------------- value helpers


def parse_flag(value: Any, field: str) -> bool:
    """ "1"/"0" (also 1/0/true/false) -> bool; anything else is an unexpected type."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("1", "0", "true", "false"):
        return value.strip().lower() in ("1", "true")
    raise MappingError(f'{field}: valor inesperado {value!r} (esperado "0" ou "1")', {field: "tipo inesperado"})


def to_flag(value: Any) -> str:
    return "1" if value else "0"


def format_phone_gc(value: str | None) -> str | None:
    """E.164 -> "(11) 3522-8899" (landline) or "(96) 9 9194-9455" (mobile), as GestãoClick shows."""
    if not value:
        return None
    digits = n.digits(value)
    if value.startswith("+") and not value.startswith("+55"):
        return n.format_phone_br(value)
    if digits.startswith("55") and len(digits) in (12, 13):
        digits = digits[2:]
    if len(digits) == 10:
        return f"({digits[:2]}) {digits[2:6]}-{digits[6:]}"
    if len(digits) == 11:
        return f"({digits[:2]}) {digits[2]} {digits[3:7]}-{digits[7:]}"
    return value


def format_decimal(value: Any, field: str) -> str | None:
    """Canonical "700.6200" -> "700.62"; the API answers with its own number of places."""
    text = n.normalize_decimal(value, field)
    if text is None:
        return None
    number = Decimal(text).normalize()
    if number == number.to_integral():
        return f"{number.to_integral():.2f}" if field != "estoque" else str(int(number))
    return format(number, "f")


def parse_local_timestamp(value: Any, zone: ZoneInfo) -> datetime | None:
    """ "2024-11-01 11:46:10" in the provider's zone -> aware UTC datetime (None if absent)."""
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise MappingError(f"modificado_em: tipo inesperado {type(value).__name__}", {"modificado_em": "tipo"})
    try:
        local = datetime.fromisoformat(value.strip().replace("T", " "))
    except ValueError as exc:
        raise MappingError(f"modificado_em: data/hora inválida {value!r}", {"modificado_em": "formato"}) from exc
    if local.tzinfo is None:
        local = local.replace(tzinfo=zone)
    return local.astimezone(UTC)


def _text(value: Any, field: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, (dict, list, bool)):
        raise MappingError(f"{field}: tipo inesperado {type(value).__name__}", {field: "tipo inesperado"})
    return str(value)


def _unwrap(items: Any, key: str, field: str) -> list[dict[str, Any]]:
    """`[{"endereco": {...}}]` -> `[{...}]`; a bare list of objects is accepted too."""
    if items is None:
        return []
    if not isinstance(items, list):
        raise MappingError(f"{field}: deveria ser uma lista", {field: "tipo inesperado"})
    out = []
    for item in items:
        if isinstance(item, dict) and isinstance(item.get(key), dict):
            out.append(item[key])
        elif isinstance(item, dict):
            out.append(item)
        else:
            raise MappingError(f"{field}: item com tipo inesperado", {field: "tipo inesperado"})
    return out


def _canonical(entity: str, data: dict[str, Any]) -> dict[str, Any]:
    return canonical_or_fail(entity, data, MappingError)


# ----------------------------------------------------------------------------- reading


def cliente_from_remote(raw: Mapping[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for name in _CLIENTE_DIRECT:
        if name in raw:
            data[name] = _text(raw[name], name)
    if "ativo" in raw:
        data["ativo"] = parse_flag(raw["ativo"], "ativo")
    if "enderecos" in raw:
        enderecos = _unwrap(raw["enderecos"], "endereco", "enderecos")
        first = enderecos[0] if enderecos else {}
        for canon, key in _ADDRESS.items():
            data[canon] = _text(first.get(key), f"enderecos.{key}")
    return _canonical("cliente", data)


def produto_from_remote(raw: Mapping[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for canon, key in _PRODUTO.items():
        if key in raw:
            value = raw[key]
            if canon in ("valor_custo", "valor_venda", "estoque"):
                if isinstance(value, (dict, list, bool)):
                    raise MappingError(f"{key}: tipo inesperado", {key: "tipo inesperado"})
                data[canon] = value
            else:
                data[canon] = _text(value, key)
    if "ativo" in raw:
        data["ativo"] = parse_flag(raw["ativo"], "ativo")
    return _canonical("produto", data)


def venda_from_remote(raw: Mapping[str, Any], situacao_name: Callable[[str], str | None]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for name in ("codigo", "cliente_id", "data", "valor_total", "observacoes"):
        if name in raw:
            data[name] = _text(raw[name], name)
    if raw.get("nome_situacao"):
        data["situacao"] = _text(raw["nome_situacao"], "nome_situacao")
    elif raw.get("situacao_id") not in (None, ""):
        data["situacao"] = situacao_name(str(raw["situacao_id"]))
    if "produtos" in raw:
        itens = []
        for p in _unwrap(raw["produtos"], "produto", "produtos"):
            if p.get("produto_id") in (None, ""):
                raise MappingError("produtos: item sem produto_id", {"produtos.produto_id": "ausente"})
            itens.append(
                {
                    "produto_id": str(p["produto_id"]),
                    "quantidade": p.get("quantidade") if p.get("quantidade") not in (None, "") else "1",
                    "valor_unitario": p.get("valor_venda") if p.get("valor_venda") not in (None, "") else "0",
                    "desconto": p.get("desconto_valor") if p.get("desconto_valor") not in (None, "") else "0",
                }
            )
        data["itens"] = itens
    return _canonical("venda", data)


# ----------------------------------------------------------------------------- writing


def _field_error(exc: n.NormalizationError) -> MappingError:
    return MappingError(str(exc), {exc.field: exc.message})


def _base(current: Mapping[str, Any] | None) -> dict[str, Any]:
    body = copy.deepcopy(dict(current)) if current else {}
    for key in _READ_ONLY:
        body.pop(key, None)
    return body


def _blank(value: str | None) -> str:
    """Cleared values go out as "" (the documented request examples do the same)."""
    return "" if value is None else value


def cliente_to_remote(data: Mapping[str, Any], current: Mapping[str, Any] | None = None) -> dict[str, Any]:
    body = _base(current)
    try:
        for name in _CLIENTE_DIRECT:
            if name not in data:
                continue
            value = data[name]
            if name == "cpf":
                body["cpf"] = _blank(n.format_cpf(n.normalize_cpf(value)))
            elif name == "cnpj":
                body["cnpj"] = _blank(n.format_cnpj(n.normalize_cnpj(value)))
            elif name in ("telefone", "celular"):
                body[name] = _blank(format_phone_gc(n.normalize_phone(value, name)))
            elif name == "email":
                body["email"] = _blank(n.normalize_email(value))
            elif name == "data_nascimento":
                body[name] = n.normalize_date(value, name)  # null, not "": "" is no date
            elif name == "tipo_pessoa":
                body[name] = str(value).upper() if value else None
            else:
                body[name] = _blank(n.normalize_text(value))
        if "ativo" in data:
            body["ativo"] = to_flag(data["ativo"])
        if any(k in data for k in _ADDRESS):
            enderecos = body.get("enderecos")
            wrapped = [e for e in enderecos if isinstance(e, dict)] if isinstance(enderecos, list) else []
            first = dict(wrapped[0].get("endereco") or {}) if wrapped else {}
            old_city = (first.get("nome_cidade"), first.get("estado"))
            for canon, key in _ADDRESS.items():
                if canon not in data:
                    continue
                value = data[canon]
                if canon == "cep":
                    first[key] = _blank(n.format_cep(n.normalize_cep(value)))
                elif canon == "estado":
                    first[key] = _blank(n.normalize_uf(value))
                else:
                    first[key] = _blank(n.normalize_text(value))
            if (first.get("nome_cidade"), first.get("estado")) != old_city:
                first.pop("cidade_id", None)  # a stale id would contradict the new city name
            rest = wrapped[1:]
            body["enderecos"] = [{"endereco": first}, *rest]
    except n.NormalizationError as exc:
        raise _field_error(exc) from None
    if not body.get("nome"):
        raise MappingError("nome é obrigatório no GestãoClick", {"nome": "obrigatório"})
    if not body.get("tipo_pessoa"):
        body["tipo_pessoa"] = "PJ" if body.get("cnpj") and not body.get("cpf") else "PF"
    return body


def produto_to_remote(data: Mapping[str, Any], current: Mapping[str, Any] | None = None) -> dict[str, Any]:
    body = _base(current)
    fiscal = body.pop("fiscal", None)
    if isinstance(fiscal, dict):  # read nests the fiscal block; write takes it flat
        for name in FISCAL_FIELDS:
            body.setdefault(name, fiscal.get(name))
    try:
        for canon, key in _PRODUTO.items():
            if canon not in data:
                continue
            value = data[canon]
            if canon in ("valor_custo", "valor_venda", "estoque"):
                formatted = format_decimal(value, canon)
                if formatted is None:
                    formatted = "0" if canon == "estoque" else "0.00"
                body[key] = formatted
            else:
                body[key] = _blank(n.normalize_text(value))
    except n.NormalizationError as exc:
        raise _field_error(exc) from None
    if "ativo" in data:
        body["ativo"] = to_flag(data["ativo"])
    # Per-price-type values (`valores`, Varejo/Atacado...) are GestãoClick's own business:
    # the canonical record has one sale price, the top-level `valor_venda`; sending the
    # list back unchanged keeps them (the API documents that omitted `valores` stay too).
    if "estoque" in data and current is not None:
        variacoes = _unwrap(body.get("variacoes"), "variacao", "variacoes")
        if not any(v.get("nome") for v in variacoes):
            body.pop("variacoes", None)  # only the unnamed variation: let the stock follow
    missing = {k: "obrigatório" for k in ("nome", "codigo_interno") if not body.get(k)}
    if missing:
        raise MappingError(f"campos obrigatórios no GestãoClick: {', '.join(missing)}", missing)
    if body.get("valor_custo") in (None, ""):
        body["valor_custo"] = "0.00"
    return body


def venda_to_remote(
    data: Mapping[str, Any], current: Mapping[str, Any] | None, situacao_id: Callable[[str | None], str]
) -> dict[str, Any]:
    body = _base(current)
    body.setdefault("tipo", "produto")
    try:
        if "codigo" in data and data["codigo"] not in (None, ""):
            body["codigo"] = str(data["codigo"])
        if "cliente_id" in data:
            body["cliente_id"] = str(data["cliente_id"])
        if "data" in data:
            body["data"] = n.normalize_date(data["data"], "data")
        if "observacoes" in data:
            body["observacoes"] = _blank(n.normalize_text(data["observacoes"]))
        if "situacao" in data or not body.get("situacao_id"):
            body["situacao_id"] = situacao_id(data.get("situacao"))
            body.pop("nome_situacao", None)
        if "itens" in data:
            old_items = _unwrap(body.get("produtos"), "produto", "produtos")
            produtos = []
            for i, item in enumerate(data["itens"] or []):
                previous = dict(old_items[i]) if i < len(old_items) else {}
                if str(previous.get("produto_id")) != str(item["produto_id"]):
                    previous = {}
                previous.pop("valor_total", None)
                previous.update(
                    {
                        "produto_id": str(item["produto_id"]),
                        "quantidade": format_decimal(item.get("quantidade") or "1", "quantidade"),
                        "valor_venda": format_decimal(item.get("valor_unitario") or "0", "valor_unitario"),
                        "tipo_desconto": "R$",
                        "desconto_valor": format_decimal(item.get("desconto") or "0", "desconto"),
                    }
                )
                previous.pop("desconto_porcentagem", None)
                produtos.append({"produto": previous})
            body["produtos"] = produtos
    except n.NormalizationError as exc:
        raise _field_error(exc) from None
    # valor_total is computed by GestãoClick from the items; never sent.
    body.pop("valor_total", None)
    missing = {k: "obrigatório" for k in ("cliente_id", "data", "situacao_id") if not body.get(k)}
    if missing:
        raise MappingError(f"campos obrigatórios no GestãoClick: {', '.join(missing)}", missing)
    return body
