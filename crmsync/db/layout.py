"""Which of crmsync's tables a database gets: the layout the migrations follow.

crmsync's own tables (store/API keys, links, log, conflicts, ...) all carry the `crm_`
prefix. The built-in local tables (`clientes`, `produtos`, `vendas`, `venda_itens`) exist
only for the default schema map, where crmsync's own tables are the ERP; attached to an
ERP's database through a schema map, the migrations create, alter and drop nothing but
`crm_*` tables, so an ERP table named like ours (`clientes`, `lojas`) is never touched.

The choice is made once, when the first migration runs: the local tables are created when
the default map is configured (CRMSYNC_SCHEMA_MAP unset) and none of their names is taken
already. Later migrations read the choice back from the database itself (the built-in
tables exist and reference our store table) instead of from the settings of the day, so a
downgrade run with a different environment still cannot drop an ERP's `clientes`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from crmsync.settings import get_settings

#: our store/API-key table (before migration 0003 it was `lojas`).
STORE_TABLE = "crm_lojas"
LEGACY_STORE_TABLE = "lojas"
#: where Alembic keeps our revision (before the crm_ prefix: `alembic_version`).
VERSION_TABLE = "crm_alembic_version"
LEGACY_VERSION_TABLE = "alembic_version"
#: the built-in local tables, parents first.
LOCAL_TABLES: tuple[str, ...] = ("clientes", "produtos", "vendas", "venda_itens")
#: alembic config attribute forcing the layout (tests, `upgrade(url, local_tables=...)`).
LOCAL_TABLES_ATTRIBUTE = "crmsync_local_tables"


def local_tables_configured(attributes: dict[str, Any] | None = None) -> bool:
    """Whether the settings (or the caller) ask for the built-in local tables."""
    if attributes is not None and attributes.get(LOCAL_TABLES_ATTRIBUTE) is not None:
        return bool(attributes[LOCAL_TABLES_ATTRIBUTE])
    return not get_settings().schema_map


def table_names(conn: Connection) -> set[str]:
    return set(inspect(conn).get_table_names())


def owns_local_tables(conn: Connection, store_table: str) -> bool:
    """True when `clientes` here is ours: it exists and references our store table (an
    ERP's own `clientes` can reference its own `lojas`, never ours)."""
    names = table_names(conn)
    if "clientes" not in names or store_table not in names:
        return False
    fks = inspect(conn).get_foreign_keys("clientes")
    if not any(fk["referred_table"] == store_table for fk in fks):
        return False
    if store_table != LEGACY_STORE_TABLE:
        return True
    # `lojas` may be the ERP's own; ours has the API-key columns.
    columns = {c["name"] for c in inspect(conn).get_columns(store_table)}
    return {"api_key_hash", "api_key_prefix"} <= columns
