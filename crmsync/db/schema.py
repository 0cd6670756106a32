"""Bring a database to the current schema.

Alembic migrations are the source of truth (`crmsync db upgrade`); this wrapper lets the
server, the CLI and the tests call one function whatever the backend.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from crmsync.db.layout import LOCAL_TABLES_ATTRIBUTE
from crmsync.private_files import create_private, sqlite_file

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(url: str, local_tables: bool | None = None) -> Config:
    """`local_tables` forces the layout (crmsync.db.layout); None = from the settings."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes[LOCAL_TABLES_ATTRIBUTE] = local_tables
    return cfg


def upgrade(url: str, revision: str = "head", *, local_tables: bool | None = None) -> None:
    path = sqlite_file(url)
    if path is not None:
        create_private(path)  # 0600 like the key and the queue, not the umask's 0644 (issue #20)
    command.upgrade(alembic_config(url, local_tables), revision)


def downgrade(url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(url), revision)


def create_schema(url: str) -> None:
    """Bring `url` to the current schema through the migrations (never `create_all`), so
    tests and fresh installs run exactly the DDL users get."""
    upgrade(url)


def pending_migrations(url: str) -> bool | None:
    """Whether `url` is behind the migrations (True: `crmsync db upgrade` has work to do),
    False when at the head, None when that cannot be told (the database is unreachable):
    so an error message says "not migrated" only when it is so."""
    from alembic.script import ScriptDirectory
    from sqlalchemy import create_engine, inspect, pool, text

    from crmsync.db.layout import VERSION_TABLE

    heads = set(ScriptDirectory.from_config(alembic_config(url)).get_heads())
    try:
        engine = create_engine(url, poolclass=pool.NullPool)
        try:
            with engine.connect() as conn:
                if not inspect(conn).has_table(VERSION_TABLE):
                    return True
                current: set[str] = set(conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars())
        finally:
            engine.dispose()
    except Exception:  # unreachable, no driver, bad URL: not ours to tell
        return None
    return current != heads
