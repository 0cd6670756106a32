"""Alembic environment for crmsync.

The URL comes from the Alembic config (`crmsync.db.schema.alembic_config`) or, when run by
hand, from the settings. SQLite cannot alter tables in place, so migrations are rendered
and run in batch mode there; the same scripts run unchanged on PostgreSQL and MariaDB.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from crmsync.db import load_models
from crmsync.db.base import Base
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


def _run(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # type: ignore[attr-defined]
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
