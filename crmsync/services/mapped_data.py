"""The local REST API's operations when crmsync is attached to an ERP's own tables.

`crmsync.services.local_data` answers with our tables' column names; attached to an ERP
(a schema map is set), the rows are the ERP's, read and written through the map
(`crmsync.erp.table`): the API speaks the same canonical fields, ids are the ERP's keys,
and a write touches only the mapped, writable columns. A venda keeps the API's own spelling
(`id_cliente`, items with `id_produto`), translated to the canonical `cliente_id` /
`produto_id` of the map. Fields the map does not have answer their canonical default and are not written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.sql.elements import ColumnElement

from crmsync.db.hooks import after_local_write
from crmsync.engine.unique_keys import store_ignored_keys
from crmsync.erp.schema_map import active_schema_map, is_default_map
from crmsync.erp.table import MappedEntity, RowInvalid, active_schema
from crmsync.matching import exact_value
from crmsync.model.canonical import CANONICAL_MODELS, canonicalize
from crmsync.services.errors import DuplicateError, InvalidInputError, NotFoundError
from crmsync.services.ids import valid_id
from crmsync.services.local_shapes import (
    ARTICLE,
    INPUT_MODELS,
    OUTPUT_MODELS,
    UNIQUE_KEYS,
    ListFilters,
    validate_canon,
    validate_venda_input,
)

__all__ = ["attached", "create_record", "delete_record", "get_record", "list_records", "row_to_dict", "update_record"]


def attached() -> bool:
    """True when the active schema map is an ERP's (not our own built-in tables)."""
    return not is_default_map(active_schema_map())


def _ent(entity_type: str) -> MappedEntity:
    try:
        return active_schema().entity(entity_type)
    except KeyError:
        raise InvalidInputError(f"entidade '{entity_type}' não está no mapa do ERP") from None


def _money(value: Any) -> str | None:
    return None if value is None else str(Decimal(str(value)).quantize(Decimal("0.0001")))


def row_to_dict(entity_type: str, row: Any) -> dict[str, Any]:
    """An ERP row in the API's shape: canonical fields (null when unmapped), the ERP's key."""
    ent = _ent(entity_type)
    try:
        canon = ent.canon(row)
        valid = True
    except RowInvalid:
        canon, valid = _best_effort(ent, row), False  # a legacy row that does not convert
    out: dict[str, Any] = dict.fromkeys(OUTPUT_MODELS[entity_type].model_fields)
    out.update({"id": row.id, "id_loja": row.id_loja, "modificado_em": row.modificado_em})
    out["deletado_em"] = row.deletado_em
    if entity_type != "venda":
        # unmapped fields answer the canonical default (null, or e.g. tipo_pessoa PF)
        full = canonicalize(entity_type, canon) if valid else {**_FALLBACK[entity_type], **canon}
        out.update({k: v for k, v in full.items() if k in out})
        return out
    out.update({k: canon.get(k) for k in ("codigo", "data", "situacao", "observacoes")})
    out["valor_total"] = _money(canon.get("valor_total"))
    out["id_cliente"] = int(canon["cliente_id"]) if canon.get("cliente_id") else None
    items = []
    for item_row, item in zip(row.itens, canon.get("itens") or [], strict=False):
        qty, unit = Decimal(item["quantidade"]), Decimal(item["valor_unitario"])
        disc = Decimal(item.get("desconto") or "0")
        items.append(
            {
                "id": item_row.id,
                "id_venda": row.id,
                "id_produto": int(item["produto_id"]),
                "quantidade": _money(qty),
                "valor_unitario": _money(unit),
                "desconto": _money(disc),
                "valor_total": _money(qty * unit - disc),
            }
        )
    out["itens"] = items
    return out


_FALLBACK: dict[str, dict[str, Any]] = {
    entity: {"nome": "", **{n: f.default for n, f in model.model_fields.items() if not f.is_required()}}
    for entity, model in CANONICAL_MODELS.items()
}


def _best_effort(ent: MappedEntity, row: Any) -> dict[str, Any]:
    """What converts of a row that does not as a whole (the API still lists it, by key)."""
    out: dict[str, Any] = {}
    for name, fmap in ent.emap.campos.items():
        try:
            out[name] = fmap.converter.to_canonical(getattr(row, ent.shape.keys[fmap.coluna]))
        except ValueError:
            continue
    return {k: v for k, v in out.items() if v is not None}


def _get(session: Session, loja_id: int, entity_type: str, entity_id: int, *, include_deleted: bool = False) -> Any:
    ent = _ent(entity_type)
    cls: Any = ent.cls
    query: Any = select(cls).where(ent.table.c.id == entity_id, ent.store_clause(loja_id))
    if not include_deleted:
        query = query.where(ent.live_clause())
    if ent.items is not None:
        query = query.options(selectinload(cls.itens))
    row = session.scalar(query) if valid_id(entity_id) else None
    if row is None:
        gone = "não encontrada" if entity_type == "venda" else "não encontrado"
        raise NotFoundError(f"{entity_type} {entity_id} {gone}")
    return row


def _column_value(ent: MappedEntity, field: str, value: Any) -> tuple[Any, Any] | None:
    """(the column, the value as the ERP stores it) for comparing a canonical value."""
    fmap = ent.emap.campos.get(field)
    if fmap is None or value is None:
        return None
    try:
        raw = fmap.converter.to_column(value)
    except ValueError:
        return None
    return ent.table.c[ent.shape.keys[fmap.coluna]], raw


def _check_unique(
    session: Session, entity_type: str, loja_id: int, values: Mapping[str, Any], exclude_id: int | None = None
) -> None:
    ent = _ent(entity_type)
    ignored: frozenset[str] | None = None
    for key in UNIQUE_KEYS[entity_type]:
        spelled = exact_value(key, values.get(key))
        if spelled is None:
            continue
        if ignored is None:
            ignored = store_ignored_keys(session, loja_id)
        found = _column_value(ent, key, values.get(key))
        if spelled in ignored or found is None:
            continue
        column, raw = found
        query = select(ent.table.c.id).where(ent.store_clause(loja_id), ent.live_clause(), column == raw)
        if exclude_id is not None:
            query = query.where(ent.table.c.id != exclude_id)
        other = session.scalar(query.limit(1))
        if other is not None:
            raise DuplicateError(f"já existe {ARTICLE[entity_type]} com este {key} nesta loja (id {other})")


def _own(session: Session, entity_type: str, loja_id: int, row_id: int) -> bool:
    ent = _ent(entity_type)
    query = select(ent.table.c.id).where(ent.table.c.id == row_id, ent.store_clause(loja_id), ent.live_clause())
    return valid_id(row_id) and session.scalar(query) is not None


def _venda_canon(session: Session, loja_id: int, values: Mapping[str, Any]) -> dict[str, Any]:
    """The API's venda (local ids, Decimals) as the map's canonical record."""
    out: dict[str, Any] = {}
    if "id_cliente" in values:
        if not _own(session, "cliente", loja_id, values["id_cliente"]):
            raise InvalidInputError(f"cliente {values['id_cliente']} não encontrado nesta loja", ("id_cliente",))
        out["cliente_id"] = str(values["id_cliente"])
    for key in ("codigo", "situacao", "observacoes"):
        if key in values:
            out[key] = values[key]
    if "data" in values and values["data"] is not None:
        out["data"] = values["data"].isoformat()
    if "itens" in values:
        items = []
        for i, item in enumerate(values["itens"] or []):
            if not _own(session, "produto", loja_id, item["id_produto"]):
                raise InvalidInputError(
                    f"produto {item['id_produto']} não encontrado nesta loja", ("itens", i, "id_produto")
                )
            items.append(
                {
                    "produto_id": str(item["id_produto"]),
                    "quantidade": _money(item["quantidade"]),
                    "valor_unitario": _money(item["valor_unitario"]),
                    "desconto": _money(item.get("desconto") or 0),
                }
            )
        out["itens"] = items
        if values.get("valor_total") is None:
            total = sum((Decimal(str(i["valor_total"])) for i in values["itens"] or []), Decimal("0"))
            out["valor_total"] = _money(total)
    if values.get("valor_total") is not None:
        out["valor_total"] = _money(values["valor_total"])
    return out


def _write(ent: MappedEntity, row: Any, values: Mapping[str, Any]) -> None:
    try:
        ent.apply(row, values)
    except RowInvalid as exc:
        raise InvalidInputError("; ".join(exc.reasons)) from None


def create_record(session: Session, loja_id: int, entity_type: str, data: Mapping[str, Any]) -> Any:
    ent = _ent(entity_type)
    if entity_type == "venda":
        values = validate_venda_input(data, partial=False)
        _check_unique(session, entity_type, loja_id, values)
        canon = _venda_canon(session, loja_id, values)
    else:
        canon = validate_canon(entity_type, data, lengths=False)
        _check_unique(session, entity_type, loja_id, canon)
    try:
        row = ent.new_row(loja_id, canon, datetime.now(UTC))
    except RowInvalid as exc:
        raise InvalidInputError("; ".join(exc.reasons)) from None
    session.add(row)
    session.commit()
    after_local_write(loja_id, entity_type, row.id)
    return row


def update_record(session: Session, loja_id: int, entity_type: str, entity_id: int, data: Mapping[str, Any]) -> Any:
    ent = _ent(entity_type)
    row = _get(session, loja_id, entity_type, entity_id)
    if entity_type == "venda":
        values = validate_venda_input(data, partial=True)
        _check_unique(session, entity_type, loja_id, values, exclude_id=row.id)
        _write(ent, row, _venda_canon(session, loja_id, values))
    else:
        unknown = [k for k in data if k not in INPUT_MODELS[entity_type].model_fields]
        if unknown:
            raise InvalidInputError("campo desconhecido", (unknown[0],))
        try:
            current = ent.canon(row)
        except RowInvalid:
            current = {}
        canon = validate_canon(entity_type, {**current, **data}, lengths=False)
        _check_unique(session, entity_type, loja_id, canon, exclude_id=row.id)
        _write(ent, row, {k: v for k, v in canon.items() if k in data or k in current})
    session.commit()
    after_local_write(loja_id, entity_type, row.id)
    return row


def delete_record(session: Session, loja_id: int, entity_type: str, entity_id: int) -> Any:
    """The map's delete convention: a flag, a date, or (hard delete) the row removed."""
    row = _get(session, loja_id, entity_type, entity_id)
    answer = row_to_dict(entity_type, row)
    row.deletado_em = datetime.now(UTC)
    answer["deletado_em"] = row.deletado_em
    session.commit()
    after_local_write(loja_id, entity_type, int(answer["id"]))
    return _Answered(answer)


class _Answered(dict[str, Any]):
    """A row already turned into the API's answer (a hard-deleted row cannot be read back)."""


def get_record(session: Session, loja_id: int, entity_type: str, entity_id: int) -> Any:
    return _get(session, loja_id, entity_type, entity_id, include_deleted=True)


def _conditions(ent: MappedEntity, filters: ListFilters) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = []
    wanted = {
        "email": filters.email.strip().lower() if filters.email else None,
        "cpf": filters.cpf,
        "cnpj": filters.cnpj,
        "codigo": filters.codigo.strip() if filters.codigo else None,
        "codigo_barra": filters.codigo_barra.strip() if filters.codigo_barra else None,
        "cliente_id": str(filters.id_cliente) if filters.id_cliente is not None else None,
    }
    for field, value in wanted.items():
        if value is None:
            continue
        if field in ("cpf", "cnpj"):
            value = "".join(ch for ch in value if ch.isdigit())
        found = _column_value(ent, field, value)
        if found is None:
            raise InvalidInputError(f"filtro '{field}' não disponível neste ERP", (field,))
        conds.append(found[0] == found[1])
    if filters.modificado_desde is not None:
        modified = ent.modified_column()
        if modified is None:
            raise InvalidInputError("o ERP não tem coluna de modificação", ("modificado_desde",))
        since = filters.modificado_desde
        conds.append(modified >= (since.replace(tzinfo=UTC) if since.tzinfo is None else since))
    if not filters.incluir_deletados:
        conds.append(ent.live_clause())
    return conds


def list_records(
    session: Session, loja_id: int, entity_type: str, filters: ListFilters, *, limit: int, offset: int
) -> tuple[Sequence[Any], int]:
    ent = _ent(entity_type)
    conds = [ent.store_clause(loja_id), *_conditions(ent, filters)]
    total = int(session.scalar(select(func.count()).select_from(ent.table).where(*conds)) or 0)
    cls: Any = ent.cls
    query: Any = select(cls).where(*conds).order_by(ent.table.c.id).limit(limit).offset(offset)
    if ent.items is not None:
        query = query.options(selectinload(cls.itens))
    return list(session.scalars(query).all()), total
