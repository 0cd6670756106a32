"""Multi-row INSERTs for the large first pull, without SQLAlchemy's per-row parameter work.

Why: a Core ``conn.execute(insert(table), rows)`` builds and type-processes one parameter
dict per row (``construct_params`` and every column's bind processor), about a third of the
engine's time when 100,000 records arrive at once, and most of it spent converting values
that are the same on every row (the store, the run, the page's timestamp). Here the
statement is compiled once per table and column list, constants are converted once per
call, and only the varying values go through their column's own bind processor, the same
function SQLAlchemy would call, so what reaches the database is identical.

Only SQLite takes this path (its driver's ``executemany`` is a C loop over tuples). On
PostgreSQL and MariaDB the Core path stays: their dialects batch an executemany into
multi-row statements, which a plain ``cursor.executemany`` would lose.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table, insert

__all__ = ["bulk_insert"]

_Processor = Callable[[Any], Any] | None
_COMPILED: dict[tuple[int, str, tuple[str, ...]], tuple[str, list[str], list[_Processor]]] = {}


def _compiled(conn: Connection, table: Table, columns: tuple[str, ...]) -> tuple[str, list[str], list[_Processor]]:
    dialect = conn.dialect
    key = (id(table), dialect.name, columns)
    found = _COMPILED.get(key)
    if found is None:
        compiled = insert(table).compile(dialect=dialect, column_keys=list(columns))
        order = list(compiled.positiontup or columns)
        processors: list[_Processor] = [
            table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in order
        ]
        found = (compiled.string, order, processors)
        _COMPILED[key] = found
    return found


def bulk_insert(
    conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]], constants: Mapping[str, Any] | None = None
) -> None:
    """INSERT ``rows`` (each a mapping with the same keys) into ``table``; every row also
    takes the ``constants`` values."""
    if not rows:
        return
    constants = dict(constants or {})
    if conn.dialect.name != "sqlite":
        conn.execute(insert(table), [{**constants, **row} for row in rows])
        return
    varying = tuple(name for name in rows[0] if name not in constants)
    sql, order, processors = _compiled(conn, table, tuple(sorted((*constants, *varying))))
    for name in order:  # columns with a Python-side default that the caller left out
        if name not in constants and name not in rows[0]:
            default = table.c[name].default
            if default is None or not default.is_scalar:
                raise ValueError(f"bulk_insert: no value for {table.name}.{name}")
            constants[name] = default.arg  # type: ignore[attr-defined]
    template: list[Any] = []
    positions: list[tuple[int, str, _Processor]] = []  # the varying columns
    for index, (name, process) in enumerate(zip(order, processors, strict=True)):
        if name in constants:
            value = constants[name]
            template.append(process(value) if process is not None else value)
        else:
            template.append(None)
            positions.append((index, name, process))
    params: list[tuple[Any, ...]] = []
    for row in rows:
        values = template.copy()
        for index, name, process in positions:
            value = row[name]
            values[index] = process(value) if process is not None else value
        params.append(tuple(values))
    conn.exec_driver_sql(sql, params)
