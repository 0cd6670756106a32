"""The ERP's tables as the engine reads and writes them, built from a schema map.

Why an ORM class per mapped table: the engine (push, pull, conflicts, the local API) works
on row objects inside short transactions, and every map, our own built-in tables included
(``default_schema_map()``), goes through this one module, so there is one code path.

What the class holds is the column's *raw* value, exactly as the driver returns it; the
map's pure converters (``EntityMap.row_to_canonical`` / ``to_columns``, shared with
``schema check``) turn raw values into canonical records and back. Keeping raw values has
three reasons:

* a legacy row that does not convert (invalid CPF, 31 Feb, an unmapped flag) is still
  loaded; it fails when its canonical record is asked for, as one failed item naming the
  table, the key and the reason, not as a query that breaks the whole scan;
* the change-detection fingerprint is a hash of the raw mapped columns, so a full scan
  streams plain tuples through a hash, without converting anything (see :mod:`scan`);
* only the mapped, writable columns are in the SQLAlchemy ``Table``, so an UPDATE can never
  name any other column and an INSERT writes only the mapped fields, the store, the map's
  ``padroes_insercao`` and the delete marker: unmapped columns keep their bytes.

Attribute names: the primary key is ``id``, the store column ``id_loja`` (a constant for a
single-store map), the modified column ``modificado_em`` (aware UTC, ``None`` without one),
``deletado_em`` is derived from the map's delete convention, and every other column is
``c_<column>``; a venda's items are ``itens``.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from pydantic import ValidationError
from sqlalchemy import (
    Column,
    ColumnElement,
    Dialect,
    Integer,
    MetaData,
    String,
    Table,
    case,
    cast,
    false,
    func,
    literal_column,
    or_,
    select,
    true,
    type_coerce,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import Session, column_property, object_session, registry, relationship
from sqlalchemy.types import NullType, TypeDecorator

from crmsync.erp.schema_map import (
    EntityMap,
    ItemsMap,
    RowConversionError,
    SchemaMap,
    active_schema_map,
    is_default_map,
)
from crmsync.model.canonical import canonicalize
from crmsync.model.messages import validation_reasons

# The unique keys crmsync keeps on its OWN clientes/produtos tables (migration 0002, the
# `chave_*` columns of crmsync.db.local), as entity -> {canonical field: key column};
# written by crmsync.engine.unique_keys. Declared here, where the default map's tables get
# them, so that erp imports nothing of db (db.session asks this module, not the reverse).
# An ERP's mapped tables never get such columns (crmsync never alters an ERP table).
KEY_COLUMNS: dict[str, dict[str, str]] = {
    "cliente": {"cpf": "chave_cpf", "cnpj": "chave_cnpj", "email": "chave_email"},
    "produto": {"codigo": "chave_codigo", "codigo_barra": "chave_codigo_barra"},
}

__all__ = [
    "ConcurrentChange",
    "MappedEntity",
    "MappedSchema",
    "RowInvalid",
    "active_schema",
    "db_clock",
    "erp_dialect",
    "mapped_schema",
    "raw_hash",
]

_SQLITE_STAMP = "%Y-%m-%d %H:%M:%S.%f"
_SERVER_HASH = ("mysql", "mariadb", "postgresql")
_SEPARATOR = "\x1f"
_NULL_MARK = "\x01"


def _naive_utc(value: datetime) -> datetime:
    return value if value.tzinfo is None else value.astimezone(UTC).replace(tzinfo=None)


class RawValue(TypeDecorator[Any]):
    """A column read as the driver returns it; on write, only what the driver cannot take
    is adapted (SQLite has no Decimal or date type; aware datetimes are stored as naive UTC,
    the way crmsync's own UTCDateTime does, so SQL comparisons with ours line up)."""

    impl = NullType
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if isinstance(value, datetime):
            value = _naive_utc(value)
            return value.strftime(_SQLITE_STAMP) if dialect.name == "sqlite" else value
        if dialect.name == "sqlite":
            if isinstance(value, Decimal):
                return str(value)
            if isinstance(value, date):
                return value.isoformat()
        return value


class Stamp(TypeDecorator[datetime]):
    """A date-time column of the ERP read as aware UTC (naive values are taken as UTC;
    MariaDB's zero date and an empty string read as ``None``)."""

    impl = NullType
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        return RawValue().process_bind_param(value, dialect)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        return parse_stamp(value)


def parse_stamp(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        if not text or text.startswith("0000-00-00"):
            return None
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    return None


def erp_dialect(s: Session, table: Table) -> str:
    """The dialect of the database holding ``table``: the ERP's, which in the two-database
    layout is not that of the session's own (``s.get_bind()``, crmsync's tables)."""
    return s.get_bind(clause=table).dialect.name


def db_clock(dialect: str) -> ColumnElement[Any]:
    """The database's own "now" as the ERP's PHP would stamp it (local, without zone)."""
    if dialect == "postgresql":
        return func.localtimestamp()
    if dialect == "sqlite":
        return func.current_timestamp()
    return func.now()


def erp_now(s: Session, table: Table) -> datetime | None:
    """The "now" of the database holding ``table`` (the ERP's, in its own time zone, as its
    PHP stamps rows), read from that database even in the two-database layout."""
    clock = select(type_coerce(db_clock(erp_dialect(s, table)), Stamp()))
    return s.scalar(clock, bind_arguments={"clause": table})


def server_fingerprint(dialect: str, columns: Sequence[Any]) -> ColumnElement[str]:
    """MD5 of the columns' text as UTF-8, computed by MariaDB/MySQL or PostgreSQL, with its
    charset and collation named on both ends: an old ERP's columns are often latin1 (or a
    LATIN1 PostgreSQL database), and the link's `local_hash` it is compared with is ASCII
    compared byte for byte (migration 0004). The text is made UTF-8 before hashing, so the
    fingerprint of a row does not depend on the charset its column or database uses."""
    if dialect == "postgresql":
        parts = [func.coalesce(cast(c, String()), _NULL_MARK) for c in columns]
        joined = func.concat_ws(_SEPARATOR, *parts)
        return func.md5(func.convert_to(joined, literal_column("'UTF8'"))).collate("C")
    parts = [func.coalesce(cast(c, mysql.CHAR(charset="utf8mb4")), _NULL_MARK) for c in columns]
    digest = func.md5(func.concat_ws(_SEPARATOR, *parts))
    return cast(digest, mysql.CHAR(charset="ascii")).collate("ascii_bin")


def raw_hash(values: Sequence[Any]) -> str:
    """The fingerprint of a row's raw mapped values (the link's ``local_hash``)."""
    return hashlib.blake2b(repr(tuple(values)).encode(), digest_size=16).hexdigest()


class RowInvalid(ValueError):
    """A row of the ERP's table that does not convert: table, key and every bad field."""

    def __init__(self, table: str, key: Any, reasons: list[str]) -> None:
        self.table = table
        self.key = key
        self.reasons = reasons
        super().__init__(f"{table} #{key}: " + "; ".join(reasons))


class ConcurrentChange(RuntimeError):
    """The ERP changed the row while crmsync was syncing it: tried again later."""

    def __init__(self, table: str, key: Any) -> None:
        super().__init__(f"{table} #{key} mudou no ERP durante a sincronização; será tentado de novo")
        self.table = table
        self.key = key


def _reasons(exc: Exception) -> list[str]:
    if isinstance(exc, RowConversionError):
        return [f"{p.field} ({p.column}): {p.reason}" for p in exc.problems]
    if isinstance(exc, ValidationError):  # the canonical model refused it: said for a person
        return validation_reasons(exc.errors(include_url=False))
    return [str(exc)]


_TOKENS = itertools.count(1)


@dataclass
class _TableShape:
    """Column -> attribute key of one mapped table, and the columns that are hashed."""

    tmap: EntityMap | ItemsMap
    table: Table
    keys: dict[str, str]  # column name -> attribute key
    hashed: list[str]  # columns whose raw values make the fingerprint, in a fixed order
    cls: type = field(default=object)

    def raw(self, row: Any) -> dict[str, Any]:
        return {col: getattr(row, key) for col, key in self.keys.items()}

    def hash_values(self, row: Any) -> list[Any]:
        return [getattr(row, self.keys[col]) for col in self.hashed]

    def set_columns(self, row: Any, columns: Mapping[str, Any]) -> None:
        for col, value in columns.items():
            key = self.keys.get(col)
            if key is None:  # never expected: the map's helpers only name its own columns
                raise KeyError(f"coluna '{col}' fora do mapa de {self.table.name}")
            setattr(row, key, value)

    def attr_params(self, columns: Mapping[str, Any]) -> dict[str, Any]:
        """Column-named values -> Core parameters keyed by the Table's column keys."""
        return {self.keys[col]: value for col, value in columns.items()}


def _shape(
    tmap: EntityMap | ItemsMap, metadata: MetaData, special: Mapping[str, str], maintained: Sequence[str] = ()
) -> _TableShape:
    """``maintained``: columns of our own tables that crmsync keeps itself (the unique-key
    columns), outside the map's fields: written, never hashed nor converted."""
    keys: dict[str, str] = {}
    columns: list[Column[Any]] = []
    hashed: list[str] = []
    for fmap in tmap.campos.values():
        if fmap.coluna not in hashed and fmap.coluna not in special:
            hashed.append(fmap.coluna)
    wanted = [*tmap.read_columns(), *tmap.padroes_insercao, *tmap.writable_columns()]
    for col in dict.fromkeys(wanted):
        key = special.get(col, f"c_{col}")
        keys[col] = key
        if col == tmap.chave_primaria:
            columns.append(Column(col, Integer, key=key, primary_key=True, autoincrement=True))
        elif key == "modificado_em":
            columns.append(Column(col, Stamp(), key=key))
        else:
            columns.append(Column(col, RawValue(), key=key))
    for col in maintained:
        keys[col] = col
        columns.append(Column(col, RawValue(), key=col))
    table = Table(tmap.tabela, metadata, *columns, schema=tmap.esquema)
    return _TableShape(tmap=tmap, table=table, keys=keys, hashed=hashed)


class MappedEntity:
    """One entity of a schema map: its Table, its row class and the conversions."""

    def __init__(
        self,
        entity_type: str,
        emap: EntityMap,
        metadata: MetaData,
        reg: registry,
        *,
        own_clock: bool = True,
        key_columns: Mapping[str, str] | None = None,
    ) -> None:
        self.entity_type = entity_type
        self.emap = emap
        #: our own tables keep modificado_em in UTC from Python's clock; an ERP's modified
        #: column is stamped by its database's clock (in the ERP's time zone, like its PHP)
        self.own_clock = own_clock
        #: canonical field -> unique-key column, on our own tables only (see
        #: crmsync.engine.unique_keys); empty on an ERP's table, which crmsync never alters
        self.key_fields: dict[str, str] = {
            f: c for f, c in (key_columns or {}).items() if f in emap.campos and not emap.campos[f].somente_leitura
        }
        special = {emap.chave_primaria: "id"}
        if emap.loja.coluna is not None:
            special[emap.loja.coluna] = "id_loja"
        if emap.modificado_em is not None:
            special[emap.modificado_em] = "modificado_em"
        self.shape = _shape(emap, metadata, special, list(self.key_fields.values()))
        self.table = self.shape.table
        self.items: _TableShape | None = None
        if emap.itens is not None:
            self.items = _shape(emap.itens, metadata, {emap.itens.chave_primaria: "id"})
        self.cls = self._map(reg)
        self._server_hash: dict[str, ColumnElement[str]] = {}

    # ------------------------------------------------------------------ the row class

    def _map(self, reg: registry) -> type:
        emap, shape = self.emap, self.shape
        entity = self
        cls = type(f"Erp_{self.entity_type}_{emap.tabela}", (), {"__module__": __name__})
        props: dict[str, Any] = {}
        if emap.loja.fixa is not None:
            props["id_loja"] = column_property(literal_column(str(int(emap.loja.fixa)), Integer))
        if self.items is not None:
            items = self.items
            item_cls = type(f"Erp_item_{items.tmap.tabela}", (), {"__module__": __name__})
            reg.map_imperatively(item_cls, items.table)
            items.cls = item_cls
            assert emap.itens is not None
            venda_fk = items.table.c[items.keys[emap.itens.coluna_venda]]
            props["itens"] = relationship(
                item_cls,
                primaryjoin=self.table.c.id == venda_fk,
                foreign_keys=[venda_fk],
                order_by=items.table.c.id,
                cascade="all, delete-orphan",
            )
        reg.map_imperatively(cls, self.table, properties=props)
        if self.key_fields:  # the before_flush listener of crmsync.engine.unique_keys keeps them
            cls.__crm_unique_keys__ = (  # type: ignore[attr-defined]
                self.entity_type,
                {f: shape.keys[emap.campos[f].coluna] for f in self.key_fields},
            )
        if emap.modificado_em is None:
            cls.modificado_em = None  # type: ignore[attr-defined]

        def _get_deleted(row: Any) -> datetime | None:
            return entity.deleted_at(row)

        def _set_deleted(row: Any, value: datetime | None) -> None:
            entity.set_deleted(row, value)

        cls.deletado_em = property(_get_deleted, _set_deleted)  # type: ignore[attr-defined]
        shape.cls = cls
        return cls

    # ------------------------------------------------------------------ SQL pieces

    def store_clause(self, id_loja: int) -> ColumnElement[bool]:
        if self.emap.loja.fixa is not None:
            return true() if int(self.emap.loja.fixa) == id_loja else false()
        return self.table.c.id_loja == id_loja

    def live_clause(self) -> ColumnElement[bool]:
        """Rows not soft-deleted by the map's convention."""
        ex = self.emap.exclusao
        if ex.modo == "fisico" or ex.coluna is None:
            return true()
        col = self.table.c[self.shape.keys[ex.coluna]]
        if ex.modo == "data":
            if ex.valor_ativo is None:
                return col.is_(None)
            # a NOT NULL deleted-at column's "no date" (e.g. MySQL's zero date)
            return or_(col.is_(None), cast(col, String()) == str(ex.valor_ativo))
        raw = type_coerce(col, String())
        return case((raw.is_(None), true()), else_=raw != str(ex.valor_excluido))

    def modified_column(self) -> Any:
        return self.table.c.modificado_em if self.emap.modificado_em is not None else None

    # ------------------------------------------------------------------ rows

    def deleted_at(self, row: Any) -> datetime | None:
        ex = self.emap.exclusao
        gone = row.__dict__.get("_crm_gone")
        if gone is not None:
            return gone
        if ex.modo == "fisico" or ex.coluna is None:
            return None
        raw = getattr(row, self.shape.keys[ex.coluna])
        if not self.emap.is_deleted({ex.coluna: raw}):
            return None
        if ex.modo == "data":
            return parse_stamp(raw) or datetime(1970, 1, 1, tzinfo=UTC)
        modified = getattr(row, "modificado_em", None)
        return modified or datetime(1970, 1, 1, tzinfo=UTC)

    def set_deleted(self, row: Any, value: datetime | None) -> None:
        """Soft delete / restore by the map's convention; a hard-delete map deletes the
        row (it cannot be restored: restoring a hard-deleted row is refused upstream)."""
        ex = self.emap.exclusao
        if ex.modo == "fisico" or ex.coluna is None:
            if value is None:
                row.__dict__.pop("_crm_gone", None)
                return
            row.__dict__["_crm_gone"] = value
            s = object_session(row)
            if s is not None and row.id is not None:
                s.delete(row)
            return
        columns = self.emap.undeleted_values() if value is None else self.emap.deleted_values(value)
        self.shape.set_columns(row, columns)
        self._touch(row, datetime.now(UTC))

    def ghost(self, entity_id: int) -> Any:
        """A stand-in for a row that vanished from the table (a hard delete by the ERP),
        so a local delete can be pushed for its link."""
        row = self.cls()
        row.id = entity_id
        row.__dict__["_crm_gone"] = datetime.now(UTC)
        return row

    def canon(self, row: Any) -> dict[str, Any]:
        """The row's canonical record (references are local ids as strings). Only mapped
        fields are present: a field the ERP does not have is absent, so the merge never
        erases it on the CRM. Raises RowInvalid naming the table, key and reasons."""
        try:
            data = self.emap.row_to_canonical(self.shape.raw(row))
            if self.items is not None:
                data["itens"] = [self.items.tmap.row_to_canonical(self.items.raw(i)) for i in row.itens]
            full = canonicalize(self.entity_type, data)
        except (RowConversionError, ValueError) as exc:
            raise RowInvalid(self.table.name, row.id, _reasons(exc)) from exc
        return {k: v for k, v in full.items() if k in data}

    # ------------------------------------------------------------------ fingerprints

    def server_hash(self, dialect: str) -> ColumnElement[str] | None:
        """The fingerprint computed by the database itself (MariaDB/MySQL, PostgreSQL), for
        an entity without items: a scan then reads one short string a row instead of every
        mapped column (with a pure-Python driver, parsing the columns was most of a scan).
        None on SQLite (no MD5) and for vendas: their raw columns are hashed here."""
        if dialect not in _SERVER_HASH or self.items is not None:
            return None
        # Built once per dialect: it depends on nothing else, and building it (one coalesce and
        # cast per mapped column) was most of a single-row read's CPU in the job worker; one
        # object reused also keeps SQLAlchemy's memoized cache key.
        expr = self._server_hash.get(dialect)
        if expr is None:
            expr = server_fingerprint(dialect, [self.table.c[self.shape.keys[c]] for c in self.shape.hashed])
            self._server_hash[dialect] = expr
        return expr

    def fingerprint_columns(self, dialect: str) -> tuple[list[Any], bool]:
        """What a query selects to fingerprint a row, and whether that is the database's
        own hash (one column); see :meth:`fingerprint_of`."""
        expr = self.server_hash(dialect)
        if expr is not None:
            return [expr], True
        return [self.table.c[self.shape.keys[c]] for c in self.shape.hashed], False

    def fingerprint_of(self, values: Sequence[Any], items: list[tuple[Any, ...]] | None, *, server: bool) -> str:
        """The fingerprint from the values of :meth:`fingerprint_columns` (and the items'
        raw values, for a venda)."""
        if server:
            return str(values[0])
        out: list[Any] = list(values)
        if self.items is not None:
            out.append(items or [])
        return raw_hash(out)

    def row_hash(self, row: Any) -> str:
        written = row.__dict__.pop("_crm_written", False) and "_crm_gone" not in row.__dict__
        s = object_session(row)
        dialect = erp_dialect(s, self.table) if s is not None else "sqlite"
        expr = self.server_hash(dialect)
        if expr is not None and s is not None and row.id is not None:
            cached = row.__dict__.get("_crm_hash")
            if cached is not None and not written and row not in s.dirty:
                return str(cached)
            s.flush()
            value = str(s.execute(select(expr).where(self.table.c.id == row.id)).scalar_one())
            row.__dict__["_crm_hash"] = value
            return value
        if written:
            self.expire_raw(row)
        values: list[Any] = self.shape.hash_values(row)
        if self.items is not None:
            values.append([tuple(self.items.hash_values(i)) for i in row.itens])
        return raw_hash(values)

    def new_row(self, id_loja: int, values: Mapping[str, Any], now: datetime) -> Any:
        row = self.cls()
        if self.items is not None:
            row.itens = []
        constants = self.insert_constants(id_loja, now)
        self.shape.set_columns(row, constants)
        self.apply(row, values, now)
        for col, value in constants.items():  # a default stands in for an empty field
            key = self.shape.keys[col]
            if getattr(row, key) is None:
                setattr(row, key, value)
        return row

    def fill_defaults(self, columns: dict[str, Any], now: datetime) -> dict[str, Any]:
        """Insert values of mapped columns: the map's default where the field is empty."""
        for col, value in self.emap.insert_defaults(now).items():
            if col in columns and columns[col] is None:
                columns[col] = value
        return columns

    def insert_constants(self, id_loja: int, now: datetime) -> dict[str, Any]:
        """Column values every new row takes: the store, the map's defaults, not deleted,
        the modified stamp."""
        out: dict[str, Any] = {**self.emap.insert_defaults(now), **self.emap.undeleted_values()}
        out.update(self.emap.store_values(id_loja))
        if self.emap.modificado_em is not None:
            out[self.emap.modificado_em] = now
        return out

    def apply(self, row: Any, values: Mapping[str, Any], now: datetime | None = None) -> None:
        """Write canonical values (a full record or some fields) onto the row: only the
        mapped, writable columns; everything is converted first, so a value the column
        cannot hold fails the record before anything is set."""
        plain = {k: v for k, v in values.items() if k != "itens"}
        try:
            columns = self.emap.to_columns(plain)
            item_columns = None
            if self.items is not None and "itens" in values:
                item_columns = [self._item_columns(item) for item in values["itens"] or []]
        except (RowConversionError, ValueError) as exc:
            raise RowInvalid(self.table.name, row.id, _reasons(exc)) from exc
        self.guard(row)
        self.shape.set_columns(row, columns)
        if item_columns is not None:
            self._apply_items(row, item_columns, now or datetime.now(UTC))
        self._touch(row, now or datetime.now(UTC))

    def seen(self, row: Any) -> tuple[Any, ...]:
        """What must not move between reading a row and writing it: its fingerprint and its
        delete marker (see :meth:`guard`)."""
        return (self.row_hash(row), self.deleted_at(row))

    def guard(self, row: Any, expected: tuple[Any, ...] | None = None) -> None:
        """The one check that a row did not move before crmsync writes it, done before the
        first write to a row in a transaction: lock it and check it still holds what was
        read. Two readings are checked against:

        * what this transaction read (always, on MariaDB and PostgreSQL, which read
          committed data): the ERP's own code may have changed the row since; writing on
          top and then fingerprinting what the table holds would record that change as
          synced, and it would never be pushed. SQLite needs no lock nor check here: a write
          transaction there starts from the newest data or fails;
        * ``expected``, what an earlier transaction read (:meth:`seen`): a staged push reads
          a row, calls the CRM with no transaction open, and applies the answer in a new
          transaction, only if the row is as it was when the CRM was called.

        Changed, the record stops here (ConcurrentChange): its next attempt (or the staged
        push's next round) reads it afresh."""
        s = object_session(row)
        if s is None or row.id is None or "_crm_guarded" in row.__dict__ or "_crm_gone" in row.__dict__:
            return
        dialect = erp_dialect(s, self.table)
        if dialect == "sqlite" and expected is None:
            return
        row.__dict__["_crm_guarded"] = True
        if dialect != "sqlite":
            cols, server = self.fingerprint_columns(dialect)
            current = s.execute(select(*cols).where(self.table.c.id == row.id).with_for_update()).one_or_none()
            if server:
                read = row.__dict__.get("_crm_hash")
                changed = current is None or (read is not None and str(current[0]) != read)
            else:
                changed = current is None or tuple(current) != tuple(self.shape.hash_values(row))
            if changed:
                raise ConcurrentChange(self.table.name, row.id)
        if expected is not None and self.seen(row) != expected:
            raise ConcurrentChange(self.table.name, row.id)

    def _touch(self, row: Any, now: datetime) -> None:
        row.__dict__["_crm_written"] = True
        if self.emap.modificado_em is not None:
            row.modificado_em = now if self.own_clock else func.current_timestamp()

    def _item_columns(self, item: Mapping[str, Any]) -> dict[str, Any]:
        assert self.items is not None and self.emap.itens is not None
        imap = self.emap.itens
        cols = imap.to_columns(item)
        if imap.coluna_valor_total is not None:
            qty = Decimal(str(item["quantidade"]))
            unit = Decimal(str(item["valor_unitario"]))
            disc = Decimal(str(item.get("desconto") or "0"))
            cols[imap.coluna_valor_total] = qty * unit - disc
        return cols

    def _apply_items(self, row: Any, item_columns: list[dict[str, Any]], now: datetime) -> None:
        """Items are updated in place by position (the ERP keeps its item keys); extra
        items are added with the map's defaults, missing ones removed."""
        assert self.items is not None and self.emap.itens is not None
        existing = list(row.itens)
        for i, cols in enumerate(item_columns):
            if i < len(existing):
                self.items.set_columns(existing[i], cols)
            else:
                item = self.items.cls()
                defaults = {**self.emap.itens.insert_defaults(now), **self.emap.itens.undeleted_values()}
                self.items.set_columns(item, {**defaults, **cols})
                row.itens.append(item)
        for extra in existing[len(item_columns) :]:
            row.itens.remove(extra)

    def expire_raw(self, row: Any) -> None:
        """After a write, read the stored values back (the database may pad, round or
        re-encode what was written), so the fingerprint is of what the table holds."""
        s = object_session(row)
        if s is None or row.id is None:
            return
        s.flush()
        s.expire(row)


@dataclass
class MappedSchema:
    """Every entity of one schema map, mapped (one registry, one MetaData)."""

    schema_map: SchemaMap
    entities: dict[str, MappedEntity]
    token: int

    def entity(self, entity_type: str) -> MappedEntity:
        return self.entities[entity_type]

    def names(self) -> Iterable[str]:
        return self.entities.keys()

    def _parts(self) -> Iterator[MappedEntity | _TableShape]:
        """Each entity, followed by its items table when it has one."""
        for ent in self.entities.values():
            yield ent
            if ent.items is not None:
                yield ent.items

    def tables(self) -> list[Table]:
        """Every mapped table (items tables included): what lives in the ERP's database."""
        return [part.table for part in self._parts()]

    def row_classes(self) -> list[type]:
        return [part.cls for part in self._parts()]


_BUILT: dict[int, MappedSchema] = {}


def mapped_schema(schema_map: SchemaMap) -> MappedSchema:
    """The mapped classes of a schema map, built once per map object."""
    found = _BUILT.get(id(schema_map))
    if found is not None and found.schema_map is schema_map:
        return found
    metadata = MetaData()
    reg = registry(metadata=metadata)
    own = is_default_map(schema_map)
    entities = {
        name: MappedEntity(name, emap, metadata, reg, own_clock=own, key_columns=KEY_COLUMNS.get(name) if own else None)
        for name, emap in schema_map.entidades.items()
    }
    built = MappedSchema(schema_map=schema_map, entities=entities, token=next(_TOKENS))
    reg.configure()
    _BUILT[id(schema_map)] = built
    return built


def active_schema() -> MappedSchema:
    return mapped_schema(active_schema_map())
