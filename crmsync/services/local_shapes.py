"""What a local record (cliente, produto, venda) looks like at the edges: the request
bodies, a body's validation on its own (no database), the answers' shape, the list filters.

Shared by `crmsync.services.local_data` (our own tables) and `crmsync.services.mapped_data`
(an ERP's tables through a schema map), so both answer and refuse alike; it imports neither.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, create_model, field_validator
from sqlalchemy import Date, Integer, String, Text, false
from sqlalchemy.sql.elements import ColumnElement

from crmsync.db.local import LOCAL_MODELS, Cliente, Produto, Venda, VendaItem
from crmsync.db.types import Money, UTCDateTime
from crmsync.erp.table import KEY_COLUMNS
from crmsync.mapping.normalize import FOUR_PLACES, digits
from crmsync.model.canonical import ClienteCanon, ProdutoCanon, canonicalize
from crmsync.services.errors import InvalidInputError
from crmsync.services.ids import valid_id

MODELS = LOCAL_MODELS
ARTICLE = {"cliente": "um cliente", "produto": "um produto", "venda": "uma venda"}
# Keys the matcher links on (crmsync.matching.EXACT_KEYS): two live rows of one store
# holding the same value would make a link ambiguous, so a second one is a 409 (except the
# placeholders people type for "none" and the store's own chaves_ignoradas, never linked on).
UNIQUE_KEYS: dict[str, tuple[str, ...]] = {
    "cliente": ("cpf", "cnpj", "email"),
    "produto": ("codigo", "codigo_barra"),
    "venda": ("codigo",),
}
_KEY_COLUMN_NAMES = frozenset(c for keys in KEY_COLUMNS.values() for c in keys.values())
MAX_LIMIT = 500
# Documents given as text with no digit at all ("abcdefghijk"): the canonical normaliser
# reads them as "no document" (right for a CRM's "não tem"), but from a user it is a typo
# that must be refused, never stored as an empty document.
_DOCUMENT_FIELDS = {"cpf": "CPF inválido", "cnpj": "CNPJ inválido"}
DEFAULT_LIMIT = 50
_MAX_AMOUNT = Decimal("10000000000")  # Numeric(14, 4): ten integer digits

# ---------------------------------------------------------------------------------------
# Input models (request bodies). Cliente and produto are the canonical records themselves,
# so the API accepts exactly what the sync understands; venda uses local ids.


class ClienteIn(ClienteCanon):
    """A customer. CPF/CNPJ with or without punctuation (check digits verified), e-mail,
    phones in any Brazilian spelling (stored E.164), `data_nascimento` as AAAA-MM-DD."""

    @field_validator("cpf", "cnpj", mode="before")
    @classmethod
    def _document_has_digits(cls, value: Any, info: ValidationInfo) -> Any:
        """A document typed as letters is refused, not read as "no document"."""
        if isinstance(value, str) and value.strip() and not digits(value):
            raise ValueError(_DOCUMENT_FIELDS[str(info.field_name)])
        return value


class ProdutoIn(ProdutoCanon):
    """A product. Amounts as strings or numbers (stored with 4 decimal places)."""


Amount = Annotated[Decimal, Field(ge=0, lt=_MAX_AMOUNT, allow_inf_nan=False)]
Quantity = Annotated[Decimal, Field(gt=0, lt=_MAX_AMOUNT, allow_inf_nan=False)]


class VendaItemIn(BaseModel):
    """One line of a sale: a product of the same store, quantity, unit price, discount."""

    model_config = ConfigDict(extra="forbid")

    id_produto: int
    quantidade: Quantity
    valor_unitario: Amount
    desconto: Amount = Decimal("0")


class VendaIn(BaseModel):
    """A sale of one of the store's customers. `valor_total` defaults to the sum of the items."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    id_cliente: int
    data: date
    codigo: str | None = Field(default=None, max_length=30)
    situacao: str = Field(default="Em aberto", min_length=1, max_length=60)
    valor_total: Amount | None = None
    observacoes: str | None = None
    itens: list[VendaItemIn] = Field(default_factory=list)


def _optional(field: Any) -> Any:
    """`X | None`, keeping the field's constraints (ge, max_length...) on the `X` side."""
    annotation = Any if field.annotation is None else field.annotation
    if field.metadata:
        annotation = Annotated[(annotation, *field.metadata)]
    return annotation | None


def _partial(model: type[BaseModel], name: str) -> type[BaseModel]:
    """The same fields, all optional: a PUT changes only the fields it sends."""
    fields: dict[str, Any] = {k: (_optional(f), None) for k, f in model.model_fields.items()}
    return create_model(name, __config__=ConfigDict(extra="forbid"), __doc__=f"Partial {model.__name__}.", **fields)


if TYPE_CHECKING:  # the partial models are built at run time; type-check them as the full ones
    ClienteUpdate = ClienteIn
    ProdutoUpdate = ProdutoIn
    VendaUpdate = VendaIn
else:
    ClienteUpdate = _partial(ClienteIn, "ClienteUpdate")
    ProdutoUpdate = _partial(ProdutoIn, "ProdutoUpdate")
    VendaUpdate = _partial(VendaIn, "VendaUpdate")

INPUT_MODELS: dict[str, type[BaseModel]] = {"cliente": ClienteIn, "produto": ProdutoIn, "venda": VendaIn}

# ---------------------------------------------------------------------------------------
# Output: local column names, money as strings, datetimes ISO UTC.


def _out_type(column: Any) -> Any:
    col_type = column.type
    if isinstance(col_type, Money):
        base: Any = str
    elif isinstance(col_type, UTCDateTime):
        return datetime | None  # an ERP's table may have no such stamp (crmsync.services.mapped_data)
    elif isinstance(col_type, Date):
        base = date
    elif isinstance(col_type, Integer):
        base = int
    elif isinstance(col_type, String | Text):
        base = str
    else:
        base = bool
    return base | None if column.nullable else base


_PUBLIC_COLUMNS: dict[Any, tuple[Any, ...]] = {}


def public_columns(model: Any) -> tuple[Any, ...]:
    """The columns the API shows: all but the internal unique-key columns (`chave_*`); worked
    out once per model (every answered row asks)."""
    found = _PUBLIC_COLUMNS.get(model)
    if found is None:
        found = _PUBLIC_COLUMNS[model] = tuple(c for c in model.__table__.columns if c.key not in _KEY_COLUMN_NAMES)
    return found


def _out_model(model: type[Any], name: str, extra: Mapping[str, Any] | None = None) -> type[BaseModel]:
    fields: dict[str, Any] = {c.key: (_out_type(c), ...) for c in public_columns(model)}
    fields.update(extra or {})
    return create_model(name, **fields)


VendaItemOut = _out_model(VendaItem, "VendaItemOut")
OUTPUT_MODELS: dict[str, type[BaseModel]] = {
    "cliente": _out_model(Cliente, "ClienteOut"),
    "produto": _out_model(Produto, "ProdutoOut"),
    "venda": _out_model(Venda, "VendaOut", {"itens": (list[VendaItemOut], ...)}),  # type: ignore[valid-type]
}


def value_out(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value.quantize(FOUR_PLACES))
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def columns_out(row: Any) -> dict[str, Any]:
    return {c.key: value_out(getattr(row, c.key)) for c in public_columns(type(row))}


# ---------------------------------------------------------------------------------------
# A body validated on its own (references to other rows are the caller's to check)


def _check_lengths(model: type[Any], values: Mapping[str, Any]) -> None:
    """Refuse text longer than its column (PostgreSQL and MariaDB would fail, SQLite would keep it)."""
    columns = model.__table__.columns
    for key, value in values.items():
        if isinstance(value, str) and key in columns:
            length = getattr(columns[key].type, "length", None)
            if length is not None and len(value) > length:
                raise InvalidInputError(f"no máximo {length} caracteres", (key,))


def _refuse_documents_without_digits(data: Mapping[str, Any]) -> None:
    for key, message in _DOCUMENT_FIELDS.items():
        value = data.get(key)
        if isinstance(value, str) and value.strip() and not digits(value):
            raise InvalidInputError(message, (key,))


def validate_canon(entity_type: str, data: Mapping[str, Any], *, lengths: bool = True) -> dict[str, Any]:
    if entity_type == "cliente":
        _refuse_documents_without_digits(data)
    try:
        values = canonicalize(entity_type, data)
    except ValidationError as exc:
        raise InvalidInputError.from_validation(exc) from None
    if entity_type == "produto":
        for key in ("valor_custo", "valor_venda", "estoque"):
            amount = Decimal(values[key])
            if abs(amount) >= _MAX_AMOUNT:
                raise InvalidInputError("valor grande demais", (key,))
            if key != "estoque" and amount < 0:
                raise InvalidInputError("não pode ser negativo", (key,))
    if lengths:  # our own columns' sizes (an ERP's columns answer for themselves)
        _check_lengths(MODELS[entity_type], values)
    return values


def validate_venda_input(data: Mapping[str, Any], *, partial: bool) -> dict[str, Any]:
    """A sale's body validated on its own (amounts, items' totals), references not checked."""
    model = VendaUpdate if partial else VendaIn
    try:
        parsed = model.model_validate(dict(data))
    except ValidationError as exc:
        raise InvalidInputError.from_validation(exc) from None
    values = parsed.model_dump(exclude_unset=partial)
    if partial:
        for key in ("id_cliente", "data", "situacao"):
            if key in values and values[key] is None:
                raise InvalidInputError("não pode ser nulo", (key,))
        if values.get("itens", []) is None:
            values["itens"] = []
    if values.get("codigo") == "":
        values["codigo"] = None
    for i, item in enumerate(values.get("itens") or []):
        item["valor_total"] = item["quantidade"] * item["valor_unitario"] - item["desconto"]
        if item["valor_total"] < 0:
            raise InvalidInputError("desconto maior que o valor do item", ("itens", i, "desconto"))
        if item["valor_total"] >= _MAX_AMOUNT:
            raise InvalidInputError("valor do item grande demais", ("itens", i, "quantidade"))
    items_sum = sum((item["valor_total"] for item in values.get("itens") or []), Decimal("0"))
    if values.get("valor_total") is None and items_sum >= _MAX_AMOUNT:
        raise InvalidInputError("soma dos itens grande demais", ("itens",))
    return values


# ---------------------------------------------------------------------------------------
# Lists


@dataclass
class ListFilters:
    """Filters of the list endpoints; values are compared in their stored (canonical) form."""

    email: str | None = None
    cpf: str | None = None
    cnpj: str | None = None
    codigo: str | None = None
    codigo_barra: str | None = None
    id_cliente: int | None = None
    modificado_desde: datetime | None = None
    incluir_deletados: bool = False

    def compared(self) -> dict[str, Any]:
        """Each filter that is set, with the value its column is compared with (the stored,
        canonical form); an `id_cliente` no row can have compares as None (matches nothing)."""
        wanted: dict[str, Any] = {}
        if self.email:
            wanted["email"] = self.email.strip().lower()
        if self.cpf:
            wanted["cpf"] = digits(self.cpf)
        if self.cnpj:
            wanted["cnpj"] = digits(self.cnpj)
        if self.codigo:
            wanted["codigo"] = self.codigo.strip()
        if self.codigo_barra:
            wanted["codigo_barra"] = self.codigo_barra.strip()
        if self.id_cliente is not None:
            wanted["id_cliente"] = self.id_cliente if valid_id(self.id_cliente) else None
        if self.modificado_desde is not None:
            since = self.modificado_desde
            wanted["modificado_desde"] = since.replace(tzinfo=UTC) if since.tzinfo is None else since
        return wanted

    def conditions(self, model: type[Any], compared: Mapping[str, Any] | None = None) -> list[ColumnElement[bool]]:
        """The WHERE conditions on `model`'s columns: with the values of `compared()`, or
        those of `compared` (bound parameters standing for them, in a statement built once)."""
        conds: list[ColumnElement[bool]] = []
        for name, value in (self.compared() if compared is None else compared).items():
            if name == "modificado_desde":
                conds.append(model.modificado_em >= value)
            elif name == "id_cliente" and value is None:
                conds.append(false())
            else:
                conds.append(getattr(model, name) == value)
        if not self.incluir_deletados:
            conds.append(model.deletado_em.is_(None))
        return conds


def page_bounds(limit: int | None, offset: int | None, pagina: int | None, limite: int | None) -> tuple[int, int]:
    """`limit`/`offset`, or the spec's `pagina` (from 1) and `limite`; limit capped at 500."""
    size = limit if limit is not None else limite if limite is not None else DEFAULT_LIMIT
    size = max(1, min(size, MAX_LIMIT))
    if pagina is not None and offset is None:
        return size, (max(pagina, 1) - 1) * size
    return size, max(offset or 0, 0)
