"""Alembic environment for crmsync.

The URL comes from the Alembic config (`crmsync.db.schema.alembic_config`) or, when run by
hand, from the settings. SQLite cannot alter tables in place, so migrations are rendered
and run in batch mode there; the same scripts run unchanged on PostgreSQL and MariaDB.
"""

from __future__ import annotations

from alembic import context
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, pool, text
from sqlalchemy.engine import Connection

from crmsync.db import load_models
from crmsync.db.base import Base
from crmsync.db.layout import LEGACY_VERSION_TABLE, VERSION_TABLE
from crmsync.settings import get_settings

load_models()  # every model on the metadata
config = context.config
target_metadata = Base.metadata


def _url() -> str:
    return config.get_main_option("sqlalchemy.url") or get_settings().resolved_database_url()


def run_migrations_offline() -> None:
    url = _url()
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=url.startswith("sqlite"),
        compare_type=True,
        version_table=VERSION_TABLE,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine(_url(), poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            _run(conn)
    finally:
        engine.dispose()


def _adopt_legacy_version_table(connection: Connection) -> None:
    """Installs made before the crm_ prefix kept their revision in `alembic_version`; take
    it over as `crm_alembic_version`, but only when it holds one of our own revisions (an
    ERP that uses Alembic itself keeps its table untouched)."""
    outer = connection.in_transaction()
    names = set(inspect(connection).get_table_names())
    if VERSION_TABLE not in names and LEGACY_VERSION_TABLE in names:
        ours = {script.revision for script in ScriptDirectory.from_config(config).walk_revisions()}
        found: set[str] = set(connection.execute(text(f"SELECT version_num FROM {LEGACY_VERSION_TABLE}")).scalars())
        if found and found <= ours:
            connection.execute(text(f"ALTER TABLE {LEGACY_VERSION_TABLE} RENAME TO {VERSION_TABLE}"))
    if not outer:
        # End the transaction these reads began, or Alembic would take the connection as
        # inside an outer transaction and never commit the migration.
        connection.commit()


def _run(connection: Connection) -> None:
    _adopt_legacy_version_table(connection)
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        version_table=VERSION_TABLE,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
