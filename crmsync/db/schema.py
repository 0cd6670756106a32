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
