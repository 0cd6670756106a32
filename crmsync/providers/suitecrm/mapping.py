"""SuiteCRM attributes <-> canonical records, and the module-qualified external ids.

One local `cliente` lives in one of two SuiteCRM modules: a person (PF) is a ``Contacts``
record, a company (PJ) an ``Accounts`` record; `produto` is ``AOS_Products``. Their UUIDs
could in principle repeat across modules and a person may become a company, so an external
id always names its module: ``"Contacts:6f1c...e2"``. Links then stay unambiguous without a
column more, and a record that moves from one module to the other simply gets a new id.

SuiteCRM answers every attribute as a string (``""`` for empty, currency with six decimals);
we write phones, CEP and documents the way people type them there ("(11) 3522-8899").
Reading keeps only the attributes the record carries, so a field SuiteCRM lacks is never
mistaken for an erased value. Fields with no home in SuiteCRM (``numero``, ``bairro``,
``complemento``, ``rg``, ``razao_social``...) are neither read nor written. There is no CPF or
CNPJ out of the box: an installation adds custom fields (``cpf_c``, ``cnpj_c``), named per
integration (`SuiteCrmOptions`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from crmsync.mapping import normalize as n
from crmsync.providers.kit import MappingFailure
from crmsync.providers.kit.canonical import canonical_or_fail

CONTACTS = "Contacts"
ACCOUNTS = "Accounts"
PRODUCTS = "AOS_Products"
MODULES: dict[str, tuple[str, ...]] = {"cliente": (CONTACTS, ACCOUNTS), "produto": (PRODUCTS,)}
# JSON:API `type` of an answer is the bean's object name ("Contact"); requests name the module.
_OBJECT_TO_MODULE = {"Contact": CONTACTS, "Account": ACCOUNTS, "AOS_Product": PRODUCTS}

# canonical -> attribute, per module (custom CPF/CNPJ fields are added from the options).
_CONTACT = {
    "email": "email1",
    "telefone": "phone_work",
    "celular": "phone_mobile",
    "logradouro": "primary_address_street",
    "cidade": "primary_address_city",
    "estado": "primary_address_state",
    "cep": "primary_address_postalcode",
    "data_nascimento": "birthdate",
    "observacoes": "description",
}
_ACCOUNT = {
    "nome": "name",
    "email": "email1",
    "telefone": "phone_office",
    "celular": "phone_alternate",
    "logradouro": "billing_address_street",
    "cidade": "billing_address_city",
    "estado": "billing_address_state",
    "cep": "billing_address_postalcode",
    "observacoes": "description",
}
_PRODUCT = {
    "nome": "name",
    "codigo": "part_number",
    "valor_venda": "price",
    "valor_custo": "cost",
    "descricao": "description",
}


def module_of(entity_type: str, data: Mapping[str, Any]) -> str:
    """The module a canonical record belongs in (a PJ cliente is an Account)."""
    if entity_type == "cliente":
        return ACCOUNTS if data.get("tipo_pessoa") == "PJ" else CONTACTS
    return PRODUCTS


def module_from_type(type_name: Any) -> str | None:
    text = str(type_name or "")
    return text if text in (CONTACTS, ACCOUNTS, PRODUCTS) else _OBJECT_TO_MODULE.get(text)


def external_id(module: str, bean_id: str) -> str:
    return f"{module}:{bean_id}"


def split_external_id(entity_type: str, value: str) -> tuple[str, str]:
    """("Contacts", uuid) from "Contacts:uuid"; ValueError for an id of another entity."""
    module, sep, bean_id = str(value).partition(":")
    if not sep or module not in MODULES.get(entity_type, ()) or not bean_id:
        known = " ou ".join(f"'{m}:<id>'" for m in MODULES.get(entity_type, ()))
        raise ValueError(f"id externo do SuiteCRM inválido para {entity_type}: '{value}' (use {known})")
    return module, bean_id


class SuiteMapping:
    """The attribute map of one integration (its custom field names)."""

    def __init__(self, cpf_field: str, cnpj_field: str) -> None:
        self.cpf_field = cpf_field
        self.cnpj_field = cnpj_field
        self.maps: dict[str, dict[str, str]] = {
            CONTACTS: {**_CONTACT, "cpf": cpf_field},
            ACCOUNTS: {**_ACCOUNT, "cnpj": cnpj_field},
            PRODUCTS: dict(_PRODUCT),
        }

    def custom_fields(self, module: str) -> tuple[str, ...]:
        return {CONTACTS: (self.cpf_field,), ACCOUNTS: (self.cnpj_field,)}.get(module, ())

    def attributes(self, module: str) -> list[str]:
        """Attributes worth asking for (``fields[Module]=...``): what we map, the stamp, names."""
        names = set(self.maps[module].values()) | {"date_modified"}
        if module == CONTACTS:
            names |= {"first_name", "last_name"}
        return sorted(names)

    # ------------------------------------------------------------------ reading

    def to_canonical(self, module: str, attributes: Mapping[str, Any]) -> dict[str, Any]:
        """Canonical data of one record; raises MappingFailure naming the bad field."""
        data: dict[str, Any] = {}
        for canon, attr in self.maps[module].items():
            if attr in attributes:
                value = attributes[attr]
                if isinstance(value, (dict, list, bool)):
                    raise MappingFailure(f"{attr}: tipo inesperado", {attr: "tipo inesperado"})
                data[canon] = value
        if module == CONTACTS:
            first = str(attributes.get("first_name") or "").strip()
            last = str(attributes.get("last_name") or "").strip()
            if "first_name" in attributes or "last_name" in attributes:
                data["nome"] = f"{first} {last}".strip()
            data["tipo_pessoa"] = "PF"
        elif module == ACCOUNTS:
            data["tipo_pessoa"] = "PJ"
        entity = "produto" if module == PRODUCTS else "cliente"
        return canonical_or_fail(entity, data, MappingFailure)

    # ------------------------------------------------------------------ writing

    def to_attributes(self, module: str, data: Mapping[str, Any]) -> dict[str, str]:
        """The attributes for the canonical fields in `data` (only those), in SuiteCRM's
        spelling: formatted documents, digits-only CEP, dot decimals, "" for an erased value."""
        out: dict[str, str] = {}
        mapping = self.maps[module]
        for canon, value in data.items():
            attr = mapping.get(canon)
            if attr is None:
                continue
            out[attr] = _as_attribute(canon, value)
        if module == CONTACTS and "nome" in data:
            first, last = split_name(str(data.get("nome") or ""))
            out["first_name"] = first
            out["last_name"] = last
        return out


def split_name(nome: str) -> tuple[str, str]:
    """ "Maria da Silva" -> ("Maria", "da Silva"); SuiteCRM requires a last name, so a single
    word goes there."""
    parts = nome.strip().split(None, 1)
    if len(parts) == 2:
        return parts[0], parts[1]
    return "", parts[0] if parts else ""


def _as_attribute(canon: str, value: Any) -> str:
    if value is None:
        return ""
    if canon == "cpf":
        return n.format_cpf(n.digits(str(value))) or ""
    if canon == "cnpj":
        return n.format_cnpj(n.digits(str(value))) or ""
    if canon in ("telefone", "celular"):
        return n.format_phone_br(str(value)) or str(value)  # as people type them: (11) 3522-8899
    if canon == "cep":
        d = n.digits(str(value))
        return f"{d[:5]}-{d[5:]}" if len(d) == 8 else str(value)
    return str(value)


def parse_stamp(value: Any) -> datetime | None:
    """SuiteCRM's ``date_modified`` ("2026-01-01T10:00:00+00:00", ``DATE_ATOM``) in UTC."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text.replace(" ", "T", 1))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)
