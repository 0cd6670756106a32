"""What `schema inspect` and `schema check` need to know about a live database's tables:
columns with a coarse kind (text, integer, decimal, date, ...), length, scale, NULL-ability,
default, the MariaDB/MySQL charset, and a sample of raw rows.

Rows are read through untyped columns, so values come as the driver returns them (a
MariaDB zero date is the string '0000-00-00', SQLite's NUMERIC a float): exactly what the
converters have to cope with.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, column, inspect, select, table, text
from sqlalchemy import types as sqltypes

#: tables never offered as ERP tables: ours and Alembic's.
OWN_TABLE_PREFIXES = ("crm_",)


@dataclass(frozen=True)
class ColumnInfo:
    name: str
    kind: str  # text | integer | decimal | float | date | datetime | boolean | other
    type_name: str
    length: int | None
    scale: int | None
    nullable: bool
    has_default: bool
    autoincrement: bool
    charset: str | None = None


@dataclass
class TableInfo:
    name: str
    schema: str | None
    columns: dict[str, ColumnInfo]
    primary_key: list[str]
    foreign_keys: list[tuple[list[str], str, list[str]]] = field(default_factory=list)
    charset: str | None = None


# The coarse kinds, first match wins (the order is part of the rule: a dialect's reflected
# type may derive from more than one of these generic types).
_KINDS: tuple[tuple[type | tuple[type, ...], str], ...] = (
    (sqltypes.Boolean, "boolean"),
    (sqltypes.Integer, "integer"),
    (sqltypes.Float, "float"),
    (sqltypes.Numeric, "decimal"),
    (sqltypes.DateTime, "datetime"),
    (sqltypes.Date, "date"),
    ((sqltypes.String, sqltypes.Text, sqltypes.Enum), "text"),
)


def kind_of(sql_type: Any) -> str:
    """The coarse kind of a reflected SQLAlchemy type."""
    return next((kind for types, kind in _KINDS if isinstance(sql_type, types)), "other")


def _charsets(engine: Engine, table_name: str) -> tuple[str | None, dict[str, str]]:
    """(table charset, {column: charset}) on MariaDB/MySQL; (None, {}) elsewhere."""
    if engine.dialect.name not in ("mysql", "mariadb"):
        return None, {}
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT COLUMN_NAME, CHARACTER_SET_NAME FROM information_schema.COLUMNS"
                " WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = :t AND CHARACTER_SET_NAME IS NOT NULL"
            ),
            {"t": table_name},
        )
        cols = {str(r[0]): str(r[1]) for r in rows}
        collation = conn.execute(
            text(
                "SELECT TABLE_COLLATION FROM information_schema.TABLES"
                " WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = :t"
            ),
            {"t": table_name},
        ).scalar()
    table_charset = str(collation).split("_", 1)[0] if collation else None
    return table_charset, cols


def _numbered(engine: Engine, col: Any, pk: list[str]) -> bool:
    """Whether the database numbers new rows in this column: AUTO_INCREMENT, SERIAL or an
    identity, and on SQLite the single INTEGER PRIMARY KEY (an alias of the rowid)."""
    if col.get("autoincrement") is True:
        return True
    single_key = pk == [col["name"]] and kind_of(col["type"]) == "integer"
    if engine.dialect.name == "sqlite":
        return single_key and str(col["type"]).upper() == "INTEGER"
    return single_key and ("nextval(" in str(col.get("default") or "") or col.get("identity") is not None)


def list_tables(engine: Engine, schema: str | None = None) -> list[str]:
    """The database's tables, without crmsync's own."""
    names = inspect(engine).get_table_names(schema=schema)
    return sorted(n for n in names if not n.lower().startswith(OWN_TABLE_PREFIXES))


def describe_table(engine: Engine, name: str, schema: str | None = None) -> TableInfo | None:
    """The table's columns and keys, or None when it does not exist."""
    insp = inspect(engine)
    if not insp.has_table(name, schema=schema):
        return None
    table_charset, charsets = _charsets(engine, name)
    pk = list(insp.get_pk_constraint(name, schema=schema).get("constrained_columns") or [])
    columns: dict[str, ColumnInfo] = {}
    for col in insp.get_columns(name, schema=schema):
        sql_type = col["type"]
        columns[col["name"]] = ColumnInfo(
            name=col["name"],
            kind=kind_of(sql_type),
            type_name=str(sql_type),
            length=getattr(sql_type, "length", None),
            scale=getattr(sql_type, "scale", None),
            nullable=bool(col["nullable"]),
            has_default=col.get("default") is not None,
            autoincrement=_numbered(engine, col, pk),
            charset=charsets.get(col["name"]),
        )
    fks = [
        (list(fk["constrained_columns"]), str(fk["referred_table"]), list(fk["referred_columns"]))
        for fk in insp.get_foreign_keys(name, schema=schema)
    ]
    return TableInfo(name=name, schema=schema, columns=columns, primary_key=pk, foreign_keys=fks, charset=table_charset)


def sample_rows(
    engine: Engine,
    name: str,
    columns: Sequence[str],
    *,
    schema: str | None = None,
    limit: int = 500,
    order_by: str | None = None,
) -> Iterator[dict[str, Any]]:
    """Up to `limit` rows of `columns`, raw as the driver returns them (first by key)."""
    tbl = table(name, *(column(c) for c in columns), schema=schema)
    stmt = select(*(tbl.c[c] for c in columns)).limit(limit)
    if order_by is not None:
        stmt = stmt.order_by(tbl.c[order_by])
    with engine.connect() as conn:
        for row in conn.execute(stmt).mappings():
            yield dict(row)
