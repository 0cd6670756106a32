"""Our tables never touch theirs: on an ERP's database (one that even has tables named
like ours), migrations up and down create, alter and drop only crm_* tables; the ERP's
DDL and rows come out identical, on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text
from support.schema import SYNC_TABLES

from crmsync.db import Base, load_models
from crmsync.db.layout import LOCAL_TABLES, STORE_TABLE, VERSION_TABLE
from crmsync.db.schema import alembic_config, downgrade, upgrade

from .legacy_schema import ERP_TABLES, build_legacy_erp, erp_ddl, run_sql

CRM_TABLES = {"crm_alembic_version", "crm_lojas"} | SYNC_TABLES


def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _ours(obj: object, name: str | None, kind: str, _reflected: bool, _other: object) -> bool:
    table = name if kind == "table" else getattr(getattr(obj, "table", None), "name", "")
    return str(table).startswith("crm_")


def _crm_diff(url: str) -> list[object]:
    """Differences between our crm_* models and the migrated database (none expected)."""
    load_models()
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(
                conn,
                opts={
                    "compare_type": True,
                    "version_table": VERSION_TABLE,
                    "include_object": _ours,
                },
            )
            return list(compare_metadata(ctx, Base.metadata))
    finally:
        engine.dispose()


@pytest.mark.parametrize("configured_default_map", [False, True])
def test_erp_ddl_unchanged_by_upgrade_and_downgrade(db_url: str, configured_default_map: bool) -> None:
    """With a schema map (False), or even with the default map wrongly configured on an
    ERP's database (True: the taken names make 0001 keep off), only crm_* appear."""
    build_legacy_erp(db_url)
    before = erp_ddl(db_url)

    upgrade(db_url, local_tables=configured_default_map)
    assert _tables(db_url) == set(ERP_TABLES) | CRM_TABLES
    assert erp_ddl(db_url) == before
    assert _crm_diff(db_url) == []

    upgrade(db_url, local_tables=configured_default_map)  # at head: a no-op
    downgrade(db_url, "0001")
    assert erp_ddl(db_url) == before
    downgrade(db_url, "base")
    assert _tables(db_url) <= set(ERP_TABLES) | {"crm_alembic_version"}
    assert not {t for t in _tables(db_url) if t.startswith("crm_") and t != "crm_alembic_version"}
    assert erp_ddl(db_url) == before

    upgrade(db_url, local_tables=False)  # and up again
    assert erp_ddl(db_url) == before
    assert _tables(db_url) >= CRM_TABLES


def test_separate_databases_layout(fresh_database: object, db_url: str) -> None:
    """CRMSYNC_DATABASE_URL for ours, CRMSYNC_ERP_DATABASE_URL for the ERP's: our
    migrations run on ours only, which gets crm_* tables and no local tables."""
    ours = fresh_database("sqlite")  # type: ignore[operator]
    build_legacy_erp(db_url)
    before = erp_ddl(db_url)
    upgrade(ours, local_tables=False)
    assert _tables(ours) == CRM_TABLES
    assert erp_ddl(db_url) == before


def test_store_table_renamed_for_existing_installs(db_url: str) -> None:
    """An install made before 0003 (its store table `lojas`, with a store and its API key)
    is renamed to crm_lojas with its rows, and back on downgrade."""
    upgrade(db_url, "0001", local_tables=True)
    engine = create_engine(db_url)
    try:
        run_sql(
            engine,
            "INSERT INTO lojas (id, nome, api_key_hash, api_key_prefix, ativo, cadastrado_em)"
            " VALUES (5, 'Loja 5', 'h5', 'crm_abc', :t, '2026-01-01 00:00:00')",
            "INSERT INTO clientes (id, id_loja, tipo_pessoa, nome, ativo, cadastrado_em, modificado_em)"
            " VALUES (1, 5, 'PF', 'Ana', :t, '2026-01-01 00:00:00', '2026-01-01 00:00:00')",
        )
        upgrade(db_url)
        assert STORE_TABLE in _tables(db_url) and "lojas" not in _tables(db_url)
        assert set(LOCAL_TABLES) <= _tables(db_url)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT nome, api_key_hash FROM crm_lojas")).one() == ("Loja 5", "h5")
            fks = inspect(conn).get_foreign_keys("clientes")
            assert [fk["referred_table"] for fk in fks] == [STORE_TABLE]
        engine.dispose()
        assert _crm_diff(db_url) == []
        downgrade(db_url, "0001")
        assert "lojas" in _tables(db_url) and STORE_TABLE not in _tables(db_url)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT nome FROM lojas")).scalar_one() == "Loja 5"
        downgrade(db_url, "base")
        assert _tables(db_url) <= {"crm_alembic_version"}
    finally:
        engine.dispose()


def test_install_from_before_the_prefix_adopts_its_version_table(db_url: str) -> None:
    """An install made with `alembic_version` (before crm_alembic_version) is taken over,
    not migrated again from scratch."""
    upgrade(db_url, "0001", local_tables=True)
    engine = create_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE crm_alembic_version RENAME TO alembic_version"))  # the old state
        upgrade(db_url)
        assert "alembic_version" not in _tables(db_url)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM crm_alembic_version")).scalar_one() == _head()
        assert STORE_TABLE in _tables(db_url)
    finally:
        engine.dispose()


def _head() -> str:
    return str(ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head())
