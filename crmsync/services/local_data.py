"""Local data (clientes, produtos, vendas) of one store: validated, tenant-scoped writes.

Every function takes the store id and only ever touches that store's rows: another store's
row is "not found", never "forbidden", so a key learns nothing about other stores. Input is
validated in full before anything is written (canonical normalisers: CPF/CNPJ check digits,
e-mail, E.164 phones; column lengths; a sale's customer and products must be the store's
own). Unique keys (the ones the matcher links on) are kept unique among the store's live
rows. Every write sets `modificado_em`; deletes are soft. After each commit the
`after_local_write` hook tells the runtime, which schedules the push.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any, cast

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, create_model, field_validator
from sqlalchemy import Date, Integer, String, Text, and_, false, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.sql.elements import ColumnElement

from crmsync.db.hooks import after_local_write
from crmsync.db.local import LOCAL_MODELS, Cliente, Produto, Venda, VendaItem
from crmsync.db.types import Money, UTCDateTime, utcnow
from crmsync.engine.local_rows import CLIENTE_FIELDS, PRODUTO_FIELDS, apply_canon_to_row
from crmsync.engine.unique_keys import KEY_COLUMNS, store_ignored_keys, violated_key
from crmsync.mapping.normalize import FOUR_PLACES, digits
from crmsync.matching import exact_value
from crmsync.model.canonical import ClienteCanon, ProdutoCanon, canonicalize
from crmsync.services.errors import DuplicateError, InvalidInputError, NotFoundError
from crmsync.services.ids import valid_id

LocalRow = Cliente | Produto | Venda
MODELS = LOCAL_MODELS
_ARTICLE = {"cliente": "um cliente", "produto": "um produto", "venda": "uma venda"}
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
        base = datetime
    elif isinstance(col_type, Date):
        base = date
    elif isinstance(col_type, Integer):
        base = int
    elif isinstance(col_type, String | Text):
        base = str
    else:
        base = bool
    return base | None if column.nullable else base


def _public_columns(model: type[Any]) -> list[Any]:
    """The columns the API shows: all but the internal unique-key columns (`chave_*`)."""
    return [c for c in model.__table__.columns if c.key not in _KEY_COLUMN_NAMES]


def _out_model(model: type[Any], name: str, extra: Mapping[str, Any] | None = None) -> type[BaseModel]:
    fields: dict[str, Any] = {c.key: (_out_type(c), ...) for c in _public_columns(model)}
    fields.update(extra or {})
    return create_model(name, **fields)


VendaItemOut = _out_model(VendaItem, "VendaItemOut")
OUTPUT_MODELS: dict[str, type[BaseModel]] = {
    "cliente": _out_model(Cliente, "ClienteOut"),
    "produto": _out_model(Produto, "ProdutoOut"),
    "venda": _out_model(Venda, "VendaOut", {"itens": (list[VendaItemOut], ...)}),  # type: ignore[valid-type]
}


def _value_out(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value.quantize(FOUR_PLACES))
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _columns_out(row: Any) -> dict[str, Any]:
    return {c.key: _value_out(getattr(row, c.key)) for c in _public_columns(type(row))}


def row_to_dict(entity_type: str, row: LocalRow) -> dict[str, Any]:
    """A local row as the API answers it: local column names, money as strings."""
    data = _columns_out(row)
    if entity_type == "venda":
        assert isinstance(row, Venda)
        data["itens"] = [_columns_out(item) for item in row.itens]
    return data


# ---------------------------------------------------------------------------------------
# Validation helpers


def _check_entity(entity_type: str) -> type[Cliente] | type[Produto] | type[Venda]:
    if entity_type not in MODELS:
        raise InvalidInputError(f"entidade desconhecida '{entity_type}' (use cliente, produto ou venda)")
    return MODELS[entity_type]


def _check_lengths(model: type[Any], values: Mapping[str, Any]) -> None:
    """Refuse text longer than its column (PostgreSQL and MariaDB would fail, SQLite would keep it)."""
    columns = model.__table__.columns
    for key, value in values.items():
        if isinstance(value, str) and key in columns:
            length = getattr(columns[key].type, "length", None)
            if length is not None and len(value) > length:
                raise InvalidInputError(f"no máximo {length} caracteres", (key,))


def _check_unique(
    session: Session, entity_type: str, loja_id: int, values: Mapping[str, Any], exclude_id: int | None = None
) -> None:
    model = MODELS[entity_type]
    ignored: frozenset[str] | None = None
    for key in UNIQUE_KEYS[entity_type]:
        value = values.get(key)
        spelled = exact_value(key, value)
        if spelled is None:  # empty, or a placeholder ("naotem@...") the matcher never links on
            continue
        if ignored is None:
            ignored = store_ignored_keys(session, loja_id)
        if spelled in ignored:  # the store's own "none" value (chaves_ignoradas)
            continue
        same: ColumnElement[bool] = getattr(model, key) == value
        key_column = KEY_COLUMNS.get(entity_type, {}).get(key)
        if key_column is not None:  # the key as the unique index compares it; rows another
            # program wrote (no key yet) by their raw value
            keyed = getattr(model, key_column)
            same = or_(keyed == spelled, and_(keyed.is_(None), same))
        query = select(model.id).where(model.id_loja == loja_id, model.deletado_em.is_(None), same)
        if exclude_id is not None:
            query = query.where(model.id != exclude_id)
        other = session.scalar(query.limit(1))
        if other is not None:
            raise DuplicateError(f"já existe {_ARTICLE[entity_type]} com este {key} nesta loja (id {other})")


def _commit(session: Session, entity_type: str) -> None:
    """Commit; a unique key taken meanwhile by a concurrent write (the database's unique
    index, not our SELECT, is what decides) answers the same 409 as the check above."""
    try:
        session.commit()
    except IntegrityError as exc:
        session.rollback()
        key = violated_key(exc)
        if key is None:
            raise
        raise DuplicateError(f"já existe {_ARTICLE[entity_type]} com este {key} nesta loja") from None


def _refuse_documents_without_digits(data: Mapping[str, Any]) -> None:
    for key, message in _DOCUMENT_FIELDS.items():
        value = data.get(key)
        if isinstance(value, str) and value.strip() and not digits(value):
            raise InvalidInputError(message, (key,))


def _validate_canon(entity_type: str, data: Mapping[str, Any]) -> dict[str, Any]:
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
    _check_lengths(MODELS[entity_type], values)
    return values


def _raw_fields(entity_type: str, row: Cliente | Produto) -> dict[str, Any]:
    fields = CLIENTE_FIELDS if entity_type == "cliente" else PRODUTO_FIELDS
    return {f: getattr(row, f) for f in fields}


def _get_live(
    session: Session, loja_id: int, entity_type: str, entity_id: int, *, include_deleted: bool = False
) -> Any:
    model = _check_entity(entity_type)
    query = select(model).where(model.id == entity_id, model.id_loja == loja_id)
    if not include_deleted:
        query = query.where(model.deletado_em.is_(None))
    row = session.scalar(query) if valid_id(entity_id) else None
    if row is None:
        gone = "não encontrada" if entity_type == "venda" else "não encontrado"
        raise NotFoundError(f"{entity_type} {entity_id} {gone}")
    return row


def _own_row(session: Session, model: type[Cliente] | type[Produto], loja_id: int, row_id: int) -> bool:
    return valid_id(row_id) and (
        session.scalar(
            select(model.id).where(model.id == row_id, model.id_loja == loja_id, model.deletado_em.is_(None))
        )
        is not None
    )


def _validate_venda(session: Session, loja_id: int, data: Mapping[str, Any], *, partial: bool) -> dict[str, Any]:
    """Validate a sale (or the fields of one) and its references to the store's own rows."""
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
    if "id_cliente" in values and not _own_row(session, Cliente, loja_id, values["id_cliente"]):
        raise InvalidInputError(f"cliente {values['id_cliente']} não encontrado nesta loja", ("id_cliente",))
    for i, item in enumerate(values.get("itens") or []):
        if not _own_row(session, Produto, loja_id, item["id_produto"]):
            raise InvalidInputError(
                f"produto {item['id_produto']} não encontrado nesta loja", ("itens", i, "id_produto")
            )
        item["valor_total"] = item["quantidade"] * item["valor_unitario"] - item["desconto"]
        if item["valor_total"] < 0:
            raise InvalidInputError("desconto maior que o valor do item", ("itens", i, "desconto"))
        if item["valor_total"] >= _MAX_AMOUNT:
            raise InvalidInputError("valor do item grande demais", ("itens", i, "quantidade"))
    items_sum = sum((item["valor_total"] for item in values.get("itens") or []), Decimal("0"))
    if values.get("valor_total") is None and items_sum >= _MAX_AMOUNT:
        raise InvalidInputError("soma dos itens grande demais", ("itens",))
    return values


def _apply_venda(row: Venda, values: Mapping[str, Any]) -> None:
    for key in ("id_cliente", "data", "codigo", "situacao", "observacoes"):
        if key in values:
            setattr(row, key, values[key])
    if "itens" in values:
        row.itens.clear()
        for item in values["itens"]:
            row.itens.append(VendaItem(**item))
    if values.get("valor_total") is not None:
        row.valor_total = values["valor_total"]
    elif "itens" in values or "valor_total" in values:  # not given, or cleared: the items' sum
        row.valor_total = sum((i.valor_total for i in row.itens), Decimal("0"))


# ---------------------------------------------------------------------------------------
# Operations


def create_record(session: Session, loja_id: int, entity_type: str, data: Mapping[str, Any]) -> LocalRow:
    """Validate, check unique keys, insert, commit, then fire `after_local_write`."""
    model = _check_entity(entity_type)
    now = utcnow()
    row: LocalRow
    if entity_type == "venda":
        values = _validate_venda(session, loja_id, data, partial=False)
        _check_unique(session, entity_type, loja_id, values)
        row = Venda(id_loja=loja_id, cadastrado_em=now, modificado_em=now)
        _apply_venda(row, values)
    else:
        canon = _validate_canon(entity_type, data)
        _check_unique(session, entity_type, loja_id, canon)
        row = model(id_loja=loja_id, cadastrado_em=now, modificado_em=now)
        apply_canon_to_row(entity_type, row, canon)
    session.add(row)
    _commit(session, entity_type)
    after_local_write(loja_id, entity_type, row.id)
    return row


def update_record(
    session: Session, loja_id: int, entity_type: str, entity_id: int, data: Mapping[str, Any]
) -> LocalRow:
    """Change the fields given (the others keep their values); the whole record is validated
    again, so a partial update cannot leave an invalid row behind."""
    row = _get_live(session, loja_id, entity_type, entity_id)
    if entity_type == "venda":
        values = _validate_venda(session, loja_id, data, partial=True)
        _check_unique(session, entity_type, loja_id, values, exclude_id=row.id)
        _apply_venda(row, values)
    else:
        unknown = [k for k in data if k not in INPUT_MODELS[entity_type].model_fields]
        if unknown:
            raise InvalidInputError("campo desconhecido", (unknown[0],))
        canon = _validate_canon(entity_type, {**_raw_fields(entity_type, row), **data})
        _check_unique(session, entity_type, loja_id, canon, exclude_id=row.id)
        apply_canon_to_row(entity_type, row, canon)
    row.modificado_em = utcnow()
    _commit(session, entity_type)
    after_local_write(loja_id, entity_type, row.id)
    return row


def delete_record(session: Session, loja_id: int, entity_type: str, entity_id: int) -> LocalRow:
    """Soft delete: set `deletado_em` (and `modificado_em`); the row stays for sync and audit."""
    row = _get_live(session, loja_id, entity_type, entity_id)
    now = utcnow()
    row.deletado_em = now
    row.modificado_em = now
    session.commit()
    after_local_write(loja_id, entity_type, row.id)
    return row


def get_record(session: Session, loja_id: int, entity_type: str, entity_id: int) -> LocalRow:
    """One row of the store, soft-deleted ones included (they show `deletado_em`)."""
    row: LocalRow = _get_live(session, loja_id, entity_type, entity_id, include_deleted=True)
    return row


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

    def conditions(self, model: type[Any]) -> list[ColumnElement[bool]]:
        conds: list[ColumnElement[bool]] = []
        if self.email:
            conds.append(model.email == self.email.strip().lower())
        if self.cpf:
            conds.append(model.cpf == digits(self.cpf))
        if self.cnpj:
            conds.append(model.cnpj == digits(self.cnpj))
        if self.codigo:
            conds.append(model.codigo == self.codigo.strip())
        if self.codigo_barra:
            conds.append(model.codigo_barra == self.codigo_barra.strip())
        if self.id_cliente is not None:
            conds.append(model.id_cliente == self.id_cliente if valid_id(self.id_cliente) else false())
        if self.modificado_desde is not None:
            since = self.modificado_desde
            since = since.replace(tzinfo=UTC) if since.tzinfo is None else since
            conds.append(model.modificado_em >= since)
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


def list_records(
    session: Session,
    loja_id: int,
    entity_type: str,
    filters: ListFilters | None = None,
    *,
    limit: int = DEFAULT_LIMIT,
    offset: int = 0,
) -> tuple[Sequence[LocalRow], int]:
    """A page of the store's rows (ordered by id) and the total matching the filters."""
    model = _check_entity(entity_type)
    conds = [model.id_loja == loja_id, *(filters or ListFilters()).conditions(model)]
    total = int(session.scalar(select(func.count()).select_from(model).where(*conds)) or 0)
    query = select(model).where(*conds).order_by(model.id).limit(limit).offset(offset)
    if model is Venda:
        query = query.options(selectinload(Venda.itens))
    rows = cast(Sequence[LocalRow], session.scalars(query).all())
    return rows, total
