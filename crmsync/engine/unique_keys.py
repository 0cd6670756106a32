"""The unique keys of a store's live rows, held by the database.

A customer's CPF, CNPJ and e-mail and a product's code and barcode identify it: two live
rows of one store holding the same value would make every link on that value ambiguous.
A SELECT before the INSERT cannot keep them unique (two requests at the same moment both
find nothing), so the database holds them: each key has a `chave_*` column written by
crmsync with the value in the spelling the matcher compares (e-mail lower case, documents
digits only), or NULL when the row is deleted, the value is empty, a placeholder people
type for "none" (``naotem@...``) or one of the store's `chaves_ignoradas`. A plain unique
index on ``(id_loja, chave_*)`` then behaves the same on SQLite, PostgreSQL and MariaDB
(NULLs never collide), with no partial index nor generated column.

The columns exist only on crmsync's own tables (the default schema map): an ERP's mapped
table is never altered, so there the keys are checked in code before a write, as before.
They are kept by a `before_flush` listener for ORM writes: the API's and console's
`Cliente`/`Produto`, and the engine's rows of the default map (`crmsync.erp.table` maps the
key columns there as crmsync-maintained columns and marks the row class with
``__crm_unique_keys__``); and by :func:`key_columns` for the engine's bulk inserts. Rows written by another
program (the PHP ERP) keep NULL keys until crmsync next writes them: the database never
refuses the ERP's own writes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import bindparam, event, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crmsync.config import parse_config
from crmsync.db.local import Cliente, Produto
from crmsync.db.sync import CrmIntegracao
from crmsync.erp.schema_map import active_schema_map, is_default_map
from crmsync.erp.table import KEY_COLUMNS
from crmsync.matching import exact_value, ignored_keys

__all__ = [
    "KEY_COLUMNS",
    "cached_ignored_keys",
    "key_columns",
    "refresh_store_keys",
    "store_ignored_keys",
    "violated_key",
]

_MODELS: dict[type[Any], str] = {Cliente: "cliente", Produto: "produto"}
# Longest first, so "chave_codigo_barra" is not read as "chave_codigo".
_ALL_COLUMNS = sorted(
    ((column, field) for keys in KEY_COLUMNS.values() for field, column in keys.items()),
    key=lambda pair: -len(pair[0]),
)
_INFO_KEY = "crmsync_ignored_keys"


def key_columns(
    entity_type: str, values: Mapping[str, Any], ignored: frozenset[str], *, deleted: bool = False
) -> dict[str, str | None]:
    """The `chave_*` column values of a row holding `values` (canonical field -> value)."""
    keys = KEY_COLUMNS.get(entity_type, {})
    if deleted:
        return dict.fromkeys(keys.values())
    return {column: exact_value(field, values.get(field), ignored) for field, column in keys.items()}


# Built once: the statement's cache key was worked out anew at each save otherwise.
_STORE_CONFIGS = select(CrmIntegracao.config).where(CrmIntegracao.id_loja == bindparam("loja_id"))


def store_ignored_keys(session: Session, loja_id: int) -> frozenset[str]:
    """Key values that no integration of the store links on: those in the `chaves_ignoradas`
    of each one. A value that one integration still links on must stay unique in the store."""
    ignored: frozenset[str] | None = None
    configs: list[dict[str, Any] | None] = list(session.scalars(_STORE_CONFIGS, {"loja_id": loja_id}))
    for config in configs:
        try:
            values = ignored_keys(parse_config(config or {}).chaves_ignoradas)
        except ValueError:  # a config saved before a validation rule existed: ignores nothing
            values = frozenset()
        ignored = values if ignored is None else ignored & values
    return ignored or frozenset()


def violated_key(exc: IntegrityError) -> str | None:
    """The canonical field (cpf, email, codigo...) a unique-key violation is about, read from
    the driver's message, which names the index or column on all three databases."""
    message = str(exc.orig)
    for column, field in _ALL_COLUMNS:
        if column in message:
            return field
    return None


def cached_ignored_keys(session: Session, loja_id: int) -> frozenset[str]:
    """`store_ignored_keys`, read once per transaction of `session` (the check before a
    write and the keys its flush sets then share one look-up)."""
    cache: dict[int, frozenset[str]] = session.info.setdefault(_INFO_KEY, {})
    if loja_id not in cache:
        with session.no_autoflush:
            cache[loja_id] = store_ignored_keys(session, loja_id)
    return cache[loja_id]


def _key_sources(row: Any) -> tuple[str, dict[str, str]] | None:
    """(entity, {canonical field: attribute holding its value}) of a row whose table has key
    columns: our ORM models, or an engine row of the default map (see crmsync.erp.table)."""
    entity_type = _MODELS.get(type(row))
    if entity_type is not None:
        return entity_type, {field: field for field in KEY_COLUMNS[entity_type]}
    marked: tuple[str, dict[str, str]] | None = getattr(type(row), "__crm_unique_keys__", None)
    return marked


def _set_keys(session: Session, row: Any) -> None:
    sources = _key_sources(row)
    if sources is None or row.id_loja is None:
        return
    entity_type, attrs = sources
    values = {field: getattr(row, attr) for field, attr in attrs.items()}
    computed = key_columns(entity_type, values, frozenset(), deleted=row.deletado_em is not None)
    if any(value is not None for value in computed.values()):
        # only a value that could be linked on asks for the store's ignored ones (a query)
        ignored = cached_ignored_keys(session, row.id_loja)
        computed = {column: None if value in ignored else value for column, value in computed.items()}
    for column, value in computed.items():
        if getattr(row, column) != value:
            setattr(row, column, value)


@event.listens_for(Session, "before_flush")
def _keep_keys(session: Session, _context: Any, _instances: Any) -> None:
    """Every new or changed cliente/produto gets its `chave_*` columns recomputed."""
    for row in (*session.new, *session.dirty):
        _set_keys(session, row)


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _forget_ignored(session: Session) -> None:
    """The store's config may change between transactions: read it again next time."""
    session.info.pop(_INFO_KEY, None)


def refresh_store_keys(session: Session, loja_id: int) -> int:
    """Recompute every row's keys of a store (after its `chaves_ignoradas` changed, or for
    rows written by another program). When several live rows hold one value, the row that
    already holds the key keeps it (else the oldest): existing duplicates are kept unkeyed,
    never refused here. Answers how many rows changed; the caller commits. Attached to an
    ERP (a schema map is set) there is nothing to refresh: its tables have no key columns."""
    if not is_default_map(active_schema_map()):
        return 0
    ignored = store_ignored_keys(session, loja_id)
    changed = 0
    for model, entity_type in _MODELS.items():
        fields = KEY_COLUMNS[entity_type]
        columns = list(fields.values())
        rows = session.execute(
            select(
                model.id, model.deletado_em, *[getattr(model, f) for f in fields], *[getattr(model, c) for c in columns]
            )
            .where(model.id_loja == loja_id)
            .order_by(model.id)
        ).all()
        stored: dict[int, dict[str, str | None]] = {}
        wanted: dict[int, dict[str, str | None]] = {}
        for row in rows:
            values = dict(zip(fields, row[2 : 2 + len(fields)], strict=True))
            stored[row.id] = dict(zip(columns, row[2 + len(fields) :], strict=True))
            wanted[row.id] = key_columns(entity_type, values, ignored, deleted=row.deletado_em is not None)
        for column in columns:
            holder: dict[str, int] = {}
            for row_id, keys in wanted.items():
                value = keys[column]
                if value is None:
                    continue
                current = holder.get(value)
                if current is None or (stored[row_id][column] == value and stored[current][column] != value):
                    holder[value] = row_id
            for row_id, keys in wanted.items():
                value = keys[column]
                if value is not None and holder[value] != row_id:
                    keys[column] = None
        # Clear first, then set: a key moving between rows never collides with itself.
        changes = [(row_id, keys) for row_id, keys in wanted.items() if keys != stored[row_id]]
        for row_id, keys in changes:
            cleared = {c: None for c, v in keys.items() if v is None and stored[row_id][c] is not None}
            if cleared:
                session.execute(update(model).where(model.id == row_id).values(**cleared))
        for row_id, keys in changes:
            session.execute(update(model).where(model.id == row_id).values(**keys))
        changed += len(changes)
    return changed


def keyed_fields(entity_type: str) -> Iterable[str]:
    """The canonical fields that have a database-held key."""
    return KEY_COLUMNS.get(entity_type, {}).keys()
