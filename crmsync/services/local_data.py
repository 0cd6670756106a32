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
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Select, and_, bindparam, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.sql.elements import ColumnElement

from crmsync.db.hooks import after_local_write
from crmsync.db.local import Cliente, Produto, Venda, VendaItem
from crmsync.db.types import utcnow
from crmsync.engine.local_rows import CLIENTE_FIELDS, PRODUTO_FIELDS, apply_canon_to_row
from crmsync.engine.unique_keys import KEY_COLUMNS, cached_ignored_keys, violated_key
from crmsync.matching import exact_value
from crmsync.services import mapped_data
from crmsync.services.errors import DuplicateError, InvalidInputError, NotFoundError
from crmsync.services.ids import valid_id
from crmsync.services.local_shapes import (
    ARTICLE,
    DEFAULT_LIMIT,
    INPUT_MODELS,
    MAX_LIMIT,
    MODELS,
    OUTPUT_MODELS,
    UNIQUE_KEYS,
    ListFilters,
    columns_out,
    page_bounds,
    public_columns,
    validate_canon,
    validate_venda_input,
    value_out,
)

# The request and answer shapes live in local_shapes (mapped_data shares them); the API
# takes the bounds and answer models it pages with from here, beside the operations.
__all__ = [
    "MAX_LIMIT",
    "OUTPUT_MODELS",
    "ListFilters",
    "LocalRow",
    "create_record",
    "delete_record",
    "get_record",
    "list_records",
    "page_bounds",
    "row_to_dict",
    "update_record",
]

LocalRow = Cliente | Produto | Venda


def row_to_dict(entity_type: str, row: LocalRow | dict[str, Any]) -> dict[str, Any]:
    """A local row as the API answers it: local column names, money as strings."""
    if isinstance(row, dict):  # already answered (a deleted row of an ERP's table)
        return row
    if not isinstance(row, Cliente | Produto | Venda):  # a row of an ERP's table
        return mapped_data.row_to_dict(entity_type, row)
    data = columns_out(row)
    if entity_type == "venda":
        assert isinstance(row, Venda)
        data["itens"] = [columns_out(item) for item in row.itens]
    return data


# ---------------------------------------------------------------------------------------
# Validation helpers


def _check_entity(entity_type: str) -> type[Cliente] | type[Produto] | type[Venda]:
    if entity_type not in MODELS:
        raise InvalidInputError(f"entidade desconhecida '{entity_type}' (use cliente, produto ou venda)")
    return MODELS[entity_type]


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
            ignored = cached_ignored_keys(session, loja_id)
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
            raise DuplicateError(f"já existe {ARTICLE[entity_type]} com este {key} nesta loja (id {other})")


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
        raise DuplicateError(f"já existe {ARTICLE[entity_type]} com este {key} nesta loja") from None


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
    values = validate_venda_input(data, partial=partial)
    if "id_cliente" in values and not _own_row(session, Cliente, loja_id, values["id_cliente"]):
        raise InvalidInputError(f"cliente {values['id_cliente']} não encontrado nesta loja", ("id_cliente",))
    for i, item in enumerate(values.get("itens") or []):
        if not _own_row(session, Produto, loja_id, item["id_produto"]):
            raise InvalidInputError(
                f"produto {item['id_produto']} não encontrado nesta loja", ("itens", i, "id_produto")
            )
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
    if mapped_data.attached():
        return cast(LocalRow, mapped_data.create_record(session, loja_id, entity_type, data))
    model = _check_entity(entity_type)
    now = utcnow()
    row: LocalRow
    if entity_type == "venda":
        values = _validate_venda(session, loja_id, data, partial=False)
        _check_unique(session, entity_type, loja_id, values)
        row = Venda(id_loja=loja_id, cadastrado_em=now, modificado_em=now)
        _apply_venda(row, values)
    else:
        canon = validate_canon(entity_type, data)
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
    if mapped_data.attached():
        return cast(LocalRow, mapped_data.update_record(session, loja_id, entity_type, entity_id, data))
    row = _get_live(session, loja_id, entity_type, entity_id)
    if entity_type == "venda":
        values = _validate_venda(session, loja_id, data, partial=True)
        _check_unique(session, entity_type, loja_id, values, exclude_id=row.id)
        _apply_venda(row, values)
    else:
        unknown = [k for k in data if k not in INPUT_MODELS[entity_type].model_fields]
        if unknown:
            raise InvalidInputError("campo desconhecido", (unknown[0],))
        canon = validate_canon(entity_type, {**_raw_fields(entity_type, row), **data})
        _check_unique(session, entity_type, loja_id, canon, exclude_id=row.id)
        apply_canon_to_row(entity_type, row, canon)
    row.modificado_em = utcnow()
    _commit(session, entity_type)
    after_local_write(loja_id, entity_type, row.id)
    return row


def delete_record(session: Session, loja_id: int, entity_type: str, entity_id: int) -> LocalRow:
    """Soft delete: set `deletado_em` (and `modificado_em`); the row stays for sync and audit.
    Attached to an ERP, its map's delete convention decides (a flag, a date, or a hard delete)."""
    if mapped_data.attached():
        return cast(LocalRow, mapped_data.delete_record(session, loja_id, entity_type, entity_id))
    row = _get_live(session, loja_id, entity_type, entity_id)
    now = utcnow()
    row.deletado_em = now
    row.modificado_em = now
    session.commit()
    after_local_write(loja_id, entity_type, row.id)
    return row


def get_record(session: Session, loja_id: int, entity_type: str, entity_id: int) -> LocalRow:
    """One row of the store, soft-deleted ones included (they show `deletado_em`)."""
    if mapped_data.attached():
        return cast(LocalRow, mapped_data.get_record(session, loja_id, entity_type, entity_id))
    row: LocalRow = _get_live(session, loja_id, entity_type, entity_id, include_deleted=True)
    return row


def _count(session: Session, model: type[Any], conds: Sequence[ColumnElement[bool]]) -> int:
    return int(session.scalar(select(func.count()).select_from(model).where(*conds)) or 0)


def list_records(
    session: Session,
    loja_id: int,
    entity_type: str,
    filters: ListFilters | None = None,
    *,
    limit: int = DEFAULT_LIMIT,
    offset: int = 0,
) -> tuple[Sequence[LocalRow | dict[str, Any]], int]:
    """A page of the store's rows (ordered by id) and the total matching the filters.

    Customers and products come back as their answers (`row_to_dict` passes them through),
    read as plain columns: the ERP lists on every save, and loading ORM objects only to turn
    them into dicts was a good part of that request's CPU. Sales (with their items) are
    rows."""
    if mapped_data.attached():
        rows, count = mapped_data.list_records(
            session, loja_id, entity_type, filters or ListFilters(), limit=limit, offset=offset
        )
        return cast(Sequence[LocalRow], rows), count
    model = _check_entity(entity_type)
    filters = filters or ListFilters()
    if model is not Venda:
        # one statement: the page and, beside each row, the count of all rows matching
        page, params = _page_statement(model, filters)
        found = session.execute(page, {"loja_id": loja_id, "limit": limit, "offset": offset, **params}).all()
        # no row to carry the count: 0 on the first page, else counted apart
        if found:
            total = int(found[0][-1])
        else:
            total = 0 if offset == 0 else _count(session, model, [model.id_loja == loja_id, *filters.conditions(model)])
        keys = [c.key for c in public_columns(model)]
        return [{k: value_out(v) for k, v in zip(keys, r, strict=False)} for r in found], total
    conds = [model.id_loja == loja_id, *filters.conditions(model)]
    total = _count(session, model, conds)
    query = select(model).where(*conds).order_by(model.id).limit(limit).offset(offset)
    rows = cast(Sequence[LocalRow], session.scalars(query.options(selectinload(Venda.itens))).all())
    return rows, total


# A list's page statement for each model and set of filters, built once: building a SELECT of
# every column and working out its cache key (the compiled SQL's) was a third of a listing's
# CPU, for the same statement each time. Values are bound parameters.
_PAGES: dict[tuple[Any, ...], Select[Any]] = {}


def _page_statement(model: type[Any], filters: ListFilters) -> tuple[Select[Any], dict[str, Any]]:
    """The page statement of `model` under the filters set in `filters` (parameters
    `loja_id`, `limit`, `offset`, and one per filter), and the filters' parameters."""
    compared = filters.compared()
    shape = (model, filters.incluir_deletados, *((name, value is None) for name, value in compared.items()))
    page = _PAGES.get(shape)
    if page is None:
        bound: dict[str, Any] = {name: None if v is None else bindparam(f"f_{name}") for name, v in compared.items()}
        columns = model.__table__.c  # the table's, not the ORM's: the session runs it as plain SQL
        conds = [columns.id_loja == bindparam("loja_id"), *filters.conditions(columns, bound)]
        counted = func.count().over().label("_total")
        page = select(*public_columns(model), counted).where(*conds).order_by(columns.id)
        page = _PAGES[shape] = page.limit(bindparam("limit")).offset(bindparam("offset"))
    return page, {f"f_{name}": value for name, value in compared.items() if value is not None}
