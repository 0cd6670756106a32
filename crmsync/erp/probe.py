"""Does the ERP still write? A rolled-back write to each mapped table, as the ERP's role.

crmsync's triggers run inside the ERP's own transactions: a trigger that cannot write the
outbox (a privilege the ERP's role lacks, a MariaDB DEFINER dropped or stripped of INSERT)
makes the ERP's INSERT, UPDATE or DELETE fail. `triggers install`, `triggers status` and
`schema check` therefore change one mapped column of one row of each table, so that the
triggers fire, and roll the transaction back: nothing is written, and a failure names the
table and the database's message.

On PostgreSQL the write runs as the ERP's role (`SET LOCAL ROLE`, so crmsync's role must
be a member of it or a superuser); MariaDB/MySQL has no such switch, but there a trigger
always runs as its DEFINER, whoever writes, so a write by any user shows what the ERP's
would meet (given the privilege to write the table itself).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from crmsync.erp.schema_map import SchemaMap, TableMap

_SAMPLE = 50
#: words of a database error caused by a trigger of ours (not by the probe's own choice).
_OURS = ("crm_erp_outbox", "crm_outbox_", "definer", "trigger", "gatilho")


@dataclass(frozen=True)
class ProbeResult:
    tabela: str
    ok: bool | None  # None: nothing to test (no rows, no column that can change)
    motivo: str = ""

    def line(self) -> str:
        if self.ok:
            return f"{self.tabela}: escrita do ERP funciona com os gatilhos"
        if self.ok is None:
            return f"{self.tabela}: não testada ({self.motivo})"
        return f"{self.tabela}: a escrita do ERP FALHA com os gatilhos: {self.motivo}"


def _cause(exc: DBAPIError) -> str:
    orig: Any = exc.orig
    args = tuple(getattr(orig, "args", ()))
    message = f"({args[0]}) {args[1]}" if len(args) >= 2 and isinstance(args[0], int) else str(orig)
    return " ".join(message.split())[:200]


def _tables(schema_map: SchemaMap) -> list[TableMap]:
    out: list[TableMap] = []
    for ent in schema_map.entidades.values():
        out.append(ent)
        if ent.itens is not None:
            out.append(ent.itens)
    return out


def _change(conn: Connection, tmap: TableMap, key: str) -> tuple[str, Any, Any] | None:
    """(column, key of a row, a value for it different from its own) of a column the
    triggers watch and no unique index holds; None when no such change exists."""
    insp = inspect(conn)
    unique: set[str] = {key}
    for index in insp.get_indexes(tmap.tabela, schema=tmap.esquema):
        if index.get("unique"):
            unique.update(str(c) for c in index["column_names"] if c)
    for constraint in insp.get_unique_constraints(tmap.tabela, schema=tmap.esquema):
        unique.update(str(c) for c in constraint["column_names"] if c)
    nullable = {c["name"]: c["nullable"] for c in insp.get_columns(tmap.tabela, schema=tmap.esquema)}
    q = conn.dialect.identifier_preparer.quote
    table = f"{q(tmap.esquema)}.{q(tmap.tabela)}" if tmap.esquema else q(tmap.tabela)
    for column in tmap.read_columns():
        if column in unique or column not in nullable:
            continue
        rows = conn.execute(
            text(f"SELECT {q(key)}, {q(column)} FROM {table} WHERE {q(column)} IS NOT NULL LIMIT {_SAMPLE}")
        ).all()
        values = {r[1] for r in rows}
        if len(values) >= 2:
            first = rows[0]
            other = next(v for v in values if v != first[1])
            return column, first[0], other
        if rows and nullable[column]:
            return column, rows[0][0], None
    return None


def _probe_table(engine: Engine, tmap: TableMap, key: str, role: str | None) -> ProbeResult:
    q = engine.dialect.identifier_preparer.quote
    table = f"{q(tmap.esquema)}.{q(tmap.tabela)}" if tmap.esquema else q(tmap.tabela)
    name = f"{tmap.esquema}.{tmap.tabela}" if tmap.esquema else tmap.tabela
    with engine.connect() as conn:
        change = _change(conn, tmap, key)
        conn.rollback()
        if change is None:
            return ProbeResult(name, None, "sem linha ou coluna para alterar")
        column, row_key, value = change
        trans = conn.begin()
        if role and engine.dialect.name == "postgresql":
            try:
                conn.execute(text(f"SET LOCAL ROLE {q(role)}"))
            except DBAPIError as exc:
                trans.rollback()
                return ProbeResult(name, None, f"não foi possível agir como o papel '{role}': {_cause(exc)}")
        try:
            conn.execute(
                text(f"UPDATE {table} SET {q(column)} = :v WHERE {q(key)} = :k"),
                {"v": value, "k": row_key},
            )
        except DBAPIError as exc:
            cause = _cause(exc)
            trans.rollback()
            if any(word in cause.lower() for word in _OURS):
                return ProbeResult(name, False, cause)
            return ProbeResult(name, None, f"a escrita de teste foi recusada por outro motivo: {cause}")
        trans.rollback()
    return ProbeResult(name, True)


def probe_writes(schema_map: SchemaMap, engine: Engine, role: str | None = None) -> list[ProbeResult]:
    """One rolled-back write per mapped table (a venda's items too), as `role` on
    PostgreSQL; see the module's docstring."""
    out = []
    for tmap in _tables(schema_map):
        key = tmap.chave_primaria
        if not inspect(engine).has_table(tmap.tabela, schema=tmap.esquema):
            continue
        out.append(_probe_table(engine, tmap, key, role))
    return out
