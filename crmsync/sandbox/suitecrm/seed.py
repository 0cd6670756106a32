"""Brazilian sample beans for the SuiteCRM sandbox, from the GestãoClick sandbox's generators.

The same people, companies and products (Faker pt_BR, valid CPF/CNPJ, cities whose UF, DDD
and CEP agree) reshaped as SuiteCRM beans: people (PF, foreigners) become Contacts, companies
(PJ) become Accounts, products become AOS_Products. Deterministic for a given ``seed``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from crmsync.sandbox.formats import SAO_PAULO
from crmsync.sandbox.seed import cliente_records, produto_records
from crmsync.sandbox.suitecrm.store import SuiteCrmStore

SEEDED_MODULES = ("Contacts", "Accounts", "AOS_Products")


def _utc_iso(local_stamp: str) -> str:
    """``YYYY-MM-DD HH:MM:SS`` in São Paulo (the GestãoClick generators' form) -> ISO-8601 with offset."""
    return datetime.strptime(local_stamp, "%Y-%m-%d %H:%M:%S").replace(tzinfo=SAO_PAULO).isoformat()


def _address(cliente: dict[str, Any]) -> dict[str, str]:
    enderecos = cliente.get("enderecos") or []
    if not enderecos:
        return {}
    e = enderecos[0]["endereco"]
    street = f"{e['logradouro']}, {e['numero']}" + (f" - {e['complemento']}" if e.get("complemento") else "")
    return {
        "street": f"{street}\n{e['bairro']}",
        "city": e["nome_cidade"],
        "state": e["estado"],
        "postalcode": e["cep"],
        "country": "Brasil",
    }


def _bean_from(
    cliente: dict[str, Any], own: dict[str, Any], address_prefix: str, doc_field: str | None, doc: str
) -> dict[str, Any]:
    """What a Contact and an Account take alike from a cliente (e-mail, stamps, the first
    address under the module's prefix, the CPF or CNPJ in its custom field) besides `own`."""
    out: dict[str, Any] = {
        **own,
        "email1": cliente.get("email") or "",
        "date_entered": _utc_iso(cliente["cadastrado_em"]),
        "date_modified": _utc_iso(cliente["modificado_em"]),
    }
    out.update({f"{address_prefix}{k}": v for k, v in _address(cliente).items()})
    if doc_field and cliente.get(doc):
        out[doc_field] = cliente[doc]
    return out


def contact_from(cliente: dict[str, Any], cpf_field: str | None) -> dict[str, Any]:
    first, _, last = str(cliente["nome"]).partition(" ")
    own = {
        "first_name": first,
        "last_name": last or first,
        "phone_work": cliente.get("telefone") or "",
        "phone_mobile": cliente.get("celular") or "",
        "birthdate": cliente.get("data_nascimento") or "",
        "description": "Cliente de demonstração (sandbox)",
        "lead_source": "Existing Customer",
    }
    return _bean_from(cliente, own, "primary_address_", cpf_field, "cpf")


def account_from(cliente: dict[str, Any], cnpj_field: str | None) -> dict[str, Any]:
    own = {
        "name": cliente["nome"],
        "phone_office": cliente.get("telefone") or "",
        "phone_alternate": cliente.get("celular") or "",
        "account_type": "Customer",
        "industry": "Retail",
        "description": "Empresa de demonstração (sandbox)",
    }
    return _bean_from(cliente, own, "billing_address_", cnpj_field, "cnpj")


def product_from(produto: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": produto["nome"],
        "part_number": produto["codigo_interno"],
        "maincode": produto["codigo_barra"],
        "price": produto["valor_venda"],
        "cost": produto["valor_custo"],
        "description": produto["descricao"],
        "type": "Good",
        "date_entered": _utc_iso(produto["cadastrado_em"]),
        "date_modified": _utc_iso(produto["modificado_em"]),
    }


def people_and_companies(
    contacts: int, accounts: int, seed: int | None, custom_fields: dict[str, list[str]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Draw GestãoClick clientes until there are enough of each kind."""
    cpf_field = next((f for f in custom_fields.get("Contacts", []) if "cpf" in f), None)
    cnpj_field = next((f for f in custom_fields.get("Accounts", []) if "cnpj" in f), None)
    people: list[dict[str, Any]] = []
    companies: list[dict[str, Any]] = []
    batch, start = max(64, contacts + accounts), 0
    while len(people) < contacts or len(companies) < accounts:
        generated: Iterator[dict[str, Any]] = cliente_records(batch, seed if start == 0 else (seed or 0) + start, start)
        for cliente in generated:
            if cliente["tipo_pessoa"] == "PJ":
                if len(companies) < accounts:
                    companies.append(account_from(cliente, cnpj_field))
            elif len(people) < contacts:
                people.append(contact_from(cliente, cpf_field))
        start += batch
    return people, companies


def seed_store(store: SuiteCrmStore, records: dict[str, int] | int, seed: int | None = None) -> dict[str, int]:
    """Fill empty modules: an int means that many of each; a persisted store with data is left alone."""
    wanted = {m: records for m in SEEDED_MODULES} if isinstance(records, int) else dict(records)
    for module in wanted:
        store.spec(module)  # unknown module names fail here, before anything is written
    contacts = wanted.get("Contacts", 0) if store.count("Contacts", include_deleted=True) == 0 else 0
    accounts = wanted.get("Accounts", 0) if store.count("Accounts", include_deleted=True) == 0 else 0
    created: dict[str, int] = {}
    if contacts or accounts:
        people, companies = people_and_companies(contacts, accounts, seed, store.custom_fields)
        if people:
            created["Contacts"] = store.bulk_create("Contacts", people)
        if companies:
            created["Accounts"] = store.bulk_create("Accounts", companies)
    products = wanted.get("AOS_Products", 0)
    if products and store.count("AOS_Products", include_deleted=True) == 0:
        created["AOS_Products"] = store.bulk_create(
            "AOS_Products", (product_from(p) for p in produto_records(products, seed))
        )
    return created
