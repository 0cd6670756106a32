"""Bring a database to the current schema.

Alembic migrations are the source of truth (`crmsync db upgrade`); this wrapper lets the
server, the CLI and the tests call one function whatever the backend.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(url), revision)


def create_schema(url: str) -> None:
    """Bring `url` to the current schema through the migrations (never `create_all`), so
    tests and fresh installs run exactly the DDL users get."""
    upgrade(url)
