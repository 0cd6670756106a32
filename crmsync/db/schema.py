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
    """Migrate to head; before the first migration exists, create the tables directly."""
    if (MIGRATIONS_DIR / "env.py").exists():
        upgrade(url)
        return
    from crmsync.db import Base
    from crmsync.db.session import get_engine

    Base.metadata.create_all(get_engine(url))
