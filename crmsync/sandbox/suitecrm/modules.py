"""The SuiteCRM modules the sandbox serves, with the attributes a stock install answers.

SuiteCRM answers every attribute of a bean as a string (``""`` when empty, ``"0"``/``"1"`` for
flags, currency with six decimals); the JSON:API ``type`` of an answer is the bean's *object*
name (``Contact``, ``Account``), while requests name the module (``Contacts``) — both are
accepted on input, as SuiteCRM's bean aliases do.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

_COMMON = (
    "name",
    "date_entered",
    "date_modified",
    "modified_user_id",
    "modified_by_name",
    "created_by",
    "created_by_name",
    "description",
    "deleted",
    "assigned_user_id",
    "assigned_user_name",
)
_PERSON_ADDRESS = tuple(
    f"{kind}_address_{part}"
    for kind in ("primary", "alt")
    for part in ("street", "city", "state", "postalcode", "country")
)
_COMPANY_ADDRESS = tuple(
    f"{kind}_address_{part}"
    for kind in ("billing", "shipping")
    for part in ("street", "city", "state", "postalcode", "country")
)


@dataclass(frozen=True)
class ModuleSpec:
    """One module: its name in URLs, its object name in answers, its stock attributes."""

    name: str
    object_name: str
    attributes: tuple[str, ...]
    currency: tuple[str, ...] = ()
    relationships: tuple[str, ...] = ()
    computed_name: bool = False  # Contacts: ``name`` is first + last name, not stored

    def all_attributes(self, custom: list[str]) -> tuple[str, ...]:
        return (*self.attributes, *(c for c in custom if c not in self.attributes))


MODULES: dict[str, ModuleSpec] = {
    "Contacts": ModuleSpec(
        name="Contacts",
        object_name="Contact",
        attributes=(
            *_COMMON,
            "salutation",
            "first_name",
            "last_name",
            "full_name",
            "title",
            "department",
            "do_not_call",
            "phone_home",
            "phone_mobile",
            "phone_work",
            "phone_other",
            "phone_fax",
            "email1",
            "email2",
            "email",
            "invalid_email",
            "email_opt_out",
            *_PERSON_ADDRESS,
            "assistant",
            "assistant_phone",
            "lead_source",
            "account_name",
            "account_id",
            "report_to_name",
            "reports_to_id",
            "birthdate",
            "campaign_id",
            "campaign_name",
        ),
        relationships=("accounts", "leads", "opportunities", "cases", "aos_quotes"),
        computed_name=True,
    ),
    "Accounts": ModuleSpec(
        name="Accounts",
        object_name="Account",
        attributes=(
            *_COMMON,
            "account_type",
            "industry",
            "annual_revenue",
            "phone_fax",
            *_COMPANY_ADDRESS,
            "rating",
            "phone_office",
            "phone_alternate",
            "website",
            "ownership",
            "employees",
            "ticker_symbol",
            "email1",
            "email",
            "parent_id",
            "parent_name",
            "sic_code",
            "campaign_id",
            "campaign_name",
        ),
        relationships=("contacts", "opportunities", "cases", "members", "aos_quotes"),
    ),
    "AOS_Products": ModuleSpec(
        name="AOS_Products",
        object_name="AOS_Products",
        attributes=(
            *_COMMON,
            "maincode",
            "part_number",
            "category",
            "type",
            "cost",
            "cost_usdollar",
            "currency_id",
            "price",
            "price_usdollar",
            "url",
            "contact_id",
            "contact",
            "product_image",
            "aos_product_category_id",
            "aos_product_category_name",
        ),
        currency=("cost", "cost_usdollar", "price", "price_usdollar"),
        relationships=("aos_products_purchases", "aos_product_category"),
    ),
}

# Bean aliases: a request may name the module or the object (``Contact`` -> ``Contacts``).
_ALIASES = {spec.object_name: name for name, spec in MODULES.items()}
# Attributes the API manages itself; a client may send them (SuiteCRM lets it) but they are derived.
READ_ONLY = frozenset({"deleted", "full_name", "email", "modified_by_name", "created_by_name", "assigned_user_name"})
DEFAULTS: dict[str, dict[str, str]] = {
    "AOS_Products": {"type": "Good", "currency_id": "-99", "maincode": "XXXX"},
}


def module_for(name: str) -> ModuleSpec | None:
    """The module a URL or ``type`` names, by module name or object name; None if unknown."""
    return MODULES.get(name) or MODULES.get(_ALIASES.get(name, ""))


def as_attribute(value: Any, *, currency: bool = False) -> str:
    """A value as SuiteCRM stores and answers it: always a string."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if currency and str(value).strip():
        try:
            return f"{Decimal(str(value).strip()):.6f}"
        except InvalidOperation:
            return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
