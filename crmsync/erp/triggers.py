"""Optional change triggers: `crmsync schema triggers install|remove`.

crmsync needs no triggers (the reconcile finds every change by hashing the mapped
columns), but with them a change written by the ERP's own code is pushed within seconds
without polling. Each mapped table gets AFTER INSERT / UPDATE / DELETE triggers that append
the changed key to `crm_erp_outbox`, crmsync's own table in the ERP's database (triggers
cannot write across databases on PostgreSQL). An update that leaves every mapped column as
it was records nothing. A venda's items record their venda's key under the venda's table,
since items sync inside their venda.

The engine consumes the outbox (read `id > last`, then delete `id <= max seen`); a dropped
trigger or a bulk load with triggers disabled loses nothing, because the reconcile still
runs behind them.

Everything created is named `crm_outbox_*` (triggers) or `crm_erp_outbox*` (table,
PostgreSQL function). `install` and `remove` touch only the `crm_outbox_*` triggers of the
map's tables (found by name in the catalog, in the map's schema), never a trigger of
another schema or table; the function and the outbox go when no crmsync trigger is left.

crmsync must never make the ERP's own writes fail. The trigger writes the outbox with the
privileges of crmsync's role, not the ERP's: on PostgreSQL the function is `SECURITY
DEFINER` with a fixed `search_path` (so the ERP's role needs nothing on `crm_erp_outbox`);
on MariaDB/MySQL a trigger always runs as its DEFINER, the user that installed it (who must
keep INSERT on the outbox, and must not be dropped). :func:`crmsync.erp.probe.probe_writes`
checks it: a write to each mapped table, as the ERP's role (PostgreSQL `SET LOCAL ROLE`),
in a transaction that is rolled back.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import BigInteger, Column, DateTime, Engine, Integer, MetaData, String, Table, inspect, text
from sqlalchemy.engine import Connection

from crmsync.erp.schema_map import SchemaMap, TableMap

OUTBOX_TABLE = "crm_erp_outbox"
PG_FUNCTION = "crm_erp_outbox_registra"
TRIGGER_PREFIX = "crm_outbox_"
_OPS = (("INSERT", "ai", "I"), ("UPDATE", "au", "U"), ("DELETE", "ad", "D"))


class TriggerError(ValueError):
    """Triggers are not available here (a message for the user, in Portuguese)."""


def outbox_table(metadata: MetaData | None = None) -> Table:
    """The outbox as a Core table (for reading and deleting; `install` creates it)."""
    return Table(
        OUTBOX_TABLE,
        metadata if metadata is not None else MetaData(),
        Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
        Column("tabela", String(64), nullable=False),
        Column("chave", String(64), nullable=False),
        Column("operacao", String(1), nullable=False),
        Column("criado_em", DateTime(), nullable=False),
    )


def outbox_exists(engine: Engine) -> bool:
    return inspect(engine).has_table(OUTBOX_TABLE)


@dataclass(frozen=True)
class _Target:
    """One table that gets triggers: what it records and when."""

    table: str
    schema: str | None
    logical_table: str  # recorded in `tabela`
    key_column: str  # its value recorded in `chave`
    watched: tuple[str, ...]  # an update changing none of these records nothing


def _targets(schema_map: SchemaMap) -> list[_Target]:
    out: list[_Target] = []
    for ent in schema_map.entidades.values():
        out.append(_target(ent, ent.tabela, ent.chave_primaria))
        if ent.itens is not None:
            out.append(_target(ent.itens, ent.tabela, ent.itens.coluna_venda))
    return out


def _target(tmap: TableMap, logical: str, key: str) -> _Target:
    return _Target(tmap.tabela, tmap.esquema, logical, key, tuple(tmap.read_columns()))


def trigger_name(table: str, suffix: str) -> str:
    return f"{TRIGGER_PREFIX}{table[:48]}_{suffix}"


def _dialect(engine: Engine) -> str:
    name = engine.dialect.name
    if name in ("mysql", "mariadb"):
        return "mysql"
    if name in ("postgresql", "sqlite"):
        return name
    raise TriggerError(f"gatilhos não suportados em {name} (use MariaDB/MySQL, PostgreSQL ou SQLite)")


def _create_outbox(conn: Connection, dialect: str) -> None:
    if dialect == "mysql":
        ddl = (
            f"CREATE TABLE IF NOT EXISTS {OUTBOX_TABLE} ("
            " id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,"
            " tabela VARCHAR(64) NOT NULL, chave VARCHAR(64) NOT NULL, operacao CHAR(1) NOT NULL,"
            " criado_em DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)"
            ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
        )
    elif dialect == "postgresql":
        ddl = (
            f"CREATE TABLE IF NOT EXISTS {OUTBOX_TABLE} ("
            " id BIGSERIAL PRIMARY KEY,"
            " tabela VARCHAR(64) NOT NULL, chave VARCHAR(64) NOT NULL, operacao CHAR(1) NOT NULL,"
            " criado_em TIMESTAMP NOT NULL DEFAULT (clock_timestamp() AT TIME ZONE 'UTC'))"
        )
    else:
        ddl = (
            f"CREATE TABLE IF NOT EXISTS {OUTBOX_TABLE} ("
            " id INTEGER PRIMARY KEY AUTOINCREMENT,"
            " tabela VARCHAR(64) NOT NULL, chave VARCHAR(64) NOT NULL, operacao CHAR(1) NOT NULL,"
            " criado_em DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')))"
        )
    conn.execute(text(ddl))


def _q(conn: Connection, name: str) -> str:
    return conn.dialect.identifier_preparer.quote(name)


def _qualified(conn: Connection, target: _Target) -> str:
    table = _q(conn, target.table)
    return f"{_q(conn, target.schema)}.{table}" if target.schema else table


def _changed(conn: Connection, watched: tuple[str, ...], null_safe_eq: str) -> str:
    """SQL true when an update changed one of the watched columns."""
    parts = [null_safe_eq.format(old=f"OLD.{_q(conn, c)}", new=f"NEW.{_q(conn, c)}") for c in watched]
    return "NOT (" + " AND ".join(parts) + ")"


def _outbox_name(conn: Connection, dialect: str) -> str:
    """The outbox, qualified with the schema (PostgreSQL) or database (MariaDB) it is
    created in: a trigger body resolves names in its table's schema, or by the ERP
    session's search_path, not by ours."""
    if dialect == "sqlite":
        return OUTBOX_TABLE
    current = conn.execute(text("SELECT DATABASE()" if dialect == "mysql" else "SELECT current_schema()")).scalar()
    return f"{_q(conn, str(current))}.{OUTBOX_TABLE}"


def _mysql_triggers(conn: Connection, t: _Target, outbox: str) -> list[str]:
    table = _qualified(conn, t)
    key = _q(conn, t.key_column)
    out = []
    for event, suffix, op in _OPS:
        row = "OLD" if event == "DELETE" else "NEW"
        insert = f"INSERT INTO {outbox} (tabela, chave, operacao) VALUES ('{t.logical_table}', {row}.{key}, '{op}')"
        if event == "UPDATE":
            moved = f"INSERT INTO {outbox} (tabela, chave, operacao) VALUES ('{t.logical_table}', OLD.{key}, 'U')"
            body = (
                f"BEGIN IF {_changed(conn, t.watched, '{old} <=> {new}')} THEN {insert}; "
                f"IF NOT (OLD.{key} <=> NEW.{key}) THEN {moved}; END IF; END IF; END"
            )
        else:
            body = f"BEGIN {insert}; END"
        out.append(
            f"CREATE TRIGGER {_q(conn, trigger_name(t.table, suffix))} AFTER {event} ON {table} FOR EACH ROW {body}"
        )
    return out


def _sqlite_triggers(conn: Connection, t: _Target, outbox: str) -> list[str]:
    table = _q(conn, t.table)
    key = _q(conn, t.key_column)
    out = []
    for event, suffix, op in _OPS:
        row = "OLD" if event == "DELETE" else "NEW"
        insert = f"INSERT INTO {outbox} (tabela, chave, operacao) VALUES ('{t.logical_table}', {row}.{key}, '{op}');"
        when = ""
        if event == "UPDATE":
            when = f" WHEN {_changed(conn, t.watched, '{old} IS {new}')}"
            insert += (
                f" INSERT INTO {outbox} (tabela, chave, operacao)"
                f" SELECT '{t.logical_table}', OLD.{key}, 'U' WHERE OLD.{key} IS NOT NEW.{key};"
            )
        out.append(
            f"CREATE TRIGGER {_q(conn, trigger_name(t.table, suffix))} AFTER {event} ON {table}"
            f" FOR EACH ROW{when} BEGIN {insert} END"
        )
    return out


_PG_FUNCTION_SQL = """
CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    old_key text;
    new_key text;
BEGIN
    IF TG_OP <> 'INSERT' THEN old_key := to_jsonb(OLD) ->> TG_ARGV[1]; END IF;
    IF TG_OP <> 'DELETE' THEN new_key := to_jsonb(NEW) ->> TG_ARGV[1]; END IF;
    IF TG_OP = 'DELETE' THEN
        INSERT INTO {outbox} (tabela, chave, operacao) VALUES (TG_ARGV[0], old_key, 'D');
        RETURN OLD;
    END IF;
    INSERT INTO {outbox} (tabela, chave, operacao) VALUES (TG_ARGV[0], new_key, left(TG_OP, 1));
    IF TG_OP = 'UPDATE' AND old_key IS DISTINCT FROM new_key THEN
        INSERT INTO {outbox} (tabela, chave, operacao) VALUES (TG_ARGV[0], old_key, 'U');
    END IF;
    RETURN NEW;
END
$$
"""


def _pg_triggers(conn: Connection, t: _Target, outbox: str) -> list[str]:
    table = _qualified(conn, t)
    args = f"'{t.logical_table}', '{t.key_column}'"
    out = []
    for event, suffix, _op in _OPS:
        when = f" WHEN ({_changed(conn, t.watched, '{old} IS NOT DISTINCT FROM {new}')})" if event == "UPDATE" else ""
        out.append(
            f"CREATE TRIGGER {_q(conn, trigger_name(t.table, suffix))} AFTER {event} ON {table}"
            f" FOR EACH ROW{when} EXECUTE FUNCTION {outbox.rsplit('.', 1)[0]}.{PG_FUNCTION}({args})"
        )
    return out


def _found_triggers(engine: Engine, dialect: str) -> list[tuple[str | None, str, str]]:
    """(schema, table, trigger) of every crmsync trigger, found by name in the catalog."""
    like = TRIGGER_PREFIX.replace("_", "\\_") + "%"
    with engine.connect() as conn:
        if dialect == "mysql":
            rows = conn.execute(
                text(
                    "SELECT EVENT_OBJECT_SCHEMA, EVENT_OBJECT_TABLE, TRIGGER_NAME FROM information_schema.TRIGGERS"
                    " WHERE TRIGGER_SCHEMA = DATABASE() AND TRIGGER_NAME LIKE :p"
                ),
                {"p": like},
            )
        elif dialect == "postgresql":
            rows = conn.execute(
                text(
                    "SELECT ns.nspname, c.relname, t.tgname FROM pg_trigger t"
                    " JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace ns ON ns.oid = c.relnamespace"
                    " WHERE NOT t.tgisinternal AND t.tgname LIKE :p"
                ),
                {"p": like},
            )
        else:
            rows = conn.execute(
                text(
                    "SELECT NULL, tbl_name, name FROM sqlite_master WHERE type = 'trigger' AND name LIKE :p ESCAPE '\\'"
                ),
                {"p": like},
            )
        return sorted((None if a is None else str(a), str(b), str(c)) for a, b, c in rows)


def installed_triggers(engine: Engine) -> list[tuple[str, str]]:
    """(table, trigger) of every crmsync trigger in the database, found by name; the table
    is "schema.table" outside PostgreSQL's public schema."""
    dialect = _dialect(engine)
    return [
        (table if schema in (None, "public") or dialect != "postgresql" else f"{schema}.{table}", name)
        for schema, table, name in _found_triggers(engine, dialect)
    ]


def install_triggers(schema_map: SchemaMap, engine: Engine) -> list[tuple[str, str]]:
    """Create the outbox (if missing) and the triggers of every mapped table, replacing
    the crmsync triggers of those tables (so re-running after a map edit is safe)."""
    dialect = _dialect(engine)
    targets = _targets(schema_map)
    insp = inspect(engine)
    for t in targets:
        if not insp.has_table(t.table, schema=t.schema):
            raise TriggerError(f"tabela '{t.table}' não existe")
        columns = {c["name"] for c in insp.get_columns(t.table, schema=t.schema)}
        missing = [c for c in t.watched if c not in columns]
        if missing:
            raise TriggerError(f"coluna '{missing[0]}' não existe em '{t.table}' (rode `crmsync schema check`)")
    _drop_triggers(engine, dialect, schema_map)
    with engine.begin() as conn:
        _create_outbox(conn, dialect)
        outbox = _outbox_name(conn, dialect)
        if dialect == "postgresql":
            function = f"{outbox.rsplit('.', 1)[0]}.{PG_FUNCTION}"
            conn.execute(text(_PG_FUNCTION_SQL.format(function=function, outbox=outbox)))
        for t in targets:
            builder = {"mysql": _mysql_triggers, "postgresql": _pg_triggers, "sqlite": _sqlite_triggers}[dialect]
            for stmt in builder(conn, t, outbox):
                conn.execute(text(stmt))
    return installed_triggers(engine)


def _scope(engine: Engine, dialect: str, schema_map: SchemaMap | None) -> set[tuple[str | None, str]] | None:
    """(schema, table) of the map's tables as the catalog names them; None = every table
    (no map given: `remove` of triggers whose map is gone)."""
    if schema_map is None:
        return None
    default: str | None = None
    if dialect in ("postgresql", "mysql"):
        with engine.connect() as conn:
            query = "SELECT current_schema()" if dialect == "postgresql" else "SELECT DATABASE()"
            default = str(conn.execute(text(query)).scalar())
    return {(t.schema or default, t.table) for t in _targets(schema_map)}


def _drop_triggers(engine: Engine, dialect: str, schema_map: SchemaMap | None = None) -> int:
    scope = _scope(engine, dialect, schema_map)
    found = [f for f in _found_triggers(engine, dialect) if scope is None or (f[0], f[1]) in scope]
    with engine.begin() as conn:
        for schema, table, name in found:
            if dialect == "postgresql":
                conn.execute(
                    text(f"DROP TRIGGER IF EXISTS {_q(conn, name)} ON {_q(conn, str(schema))}.{_q(conn, table)}")
                )
            else:
                conn.execute(text(f"DROP TRIGGER IF EXISTS {_q(conn, name)}"))
    return len(found)


def remove_triggers(engine: Engine, schema_map: SchemaMap | None = None, *, keep_outbox: bool = False) -> int:
    """Drop the crmsync triggers of the map's tables (every crmsync trigger, by name, when
    no map is given); then, once no crmsync trigger is left anywhere in the database, the
    PostgreSQL function and, unless kept, the outbox. Returns how many were dropped."""
    dialect = _dialect(engine)
    count = _drop_triggers(engine, dialect, schema_map)
    if _found_triggers(engine, dialect):
        return count  # others still write the outbox (another map's tables): keep both
    with engine.begin() as conn:
        if dialect == "postgresql":
            conn.execute(text(f"DROP FUNCTION IF EXISTS {PG_FUNCTION}()"))
        if not keep_outbox:
            conn.execute(text(f"DROP TABLE IF EXISTS {OUTBOX_TABLE}"))
    return count
