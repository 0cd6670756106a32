"""Migrations on SQLite, PostgreSQL and MariaDB: head creates exactly the models' schema,
base removes it again, and explicit store ids do not break automatic ones."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect
from sqlalchemy.orm import Session
from support.schema import SYNC_TABLES

from crmsync.db import Base
from crmsync.db.layout import VERSION_TABLE
from crmsync.db.schema import downgrade, upgrade
from crmsync.services.lojas import create_loja

TABLES = {"crm_lojas", "clientes", "produtos", "vendas", "venda_itens"} | SYNC_TABLES


def test_upgrade_matches_models_and_downgrade_empties(db_url: str) -> None:
    upgrade(db_url)
    engine = create_engine(db_url)
    try:
        assert set(inspect(engine).get_table_names()) == TABLES | {"crm_alembic_version"}
        with engine.connect() as conn:
            diff = compare_metadata(
                MigrationContext.configure(conn, opts={"compare_type": True, "version_table": VERSION_TABLE}),
                Base.metadata,
            )
        assert diff == [], f"migration and models differ: {diff}"
        upgrade(db_url)  # at head already: a no-op, not an error
        downgrade(db_url, "base")
        assert set(inspect(engine).get_table_names()) <= {"crm_alembic_version"}
        upgrade(db_url)  # and back up again from base
        assert set(inspect(engine).get_table_names()) == TABLES | {"crm_alembic_version"}
    finally:
        engine.dispose()


def test_explicit_store_id_then_automatic_one(db_url: str) -> None:
    """`loja add --id 7` must not make the next automatic id collide (PostgreSQL sequences)."""
    upgrade(db_url)
    engine = create_engine(db_url)
    try:
        with Session(engine) as session:
            loja7, _ = create_loja(session, "Loja sete", 7)
            auto, _ = create_loja(session, "Loja automática")
            assert loja7.id == 7
            assert auto.id == 8
    finally:
        engine.dispose()
