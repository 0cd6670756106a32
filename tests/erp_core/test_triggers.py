"""Change triggers: a plain-SQL write by the ERP lands its key in crm_erp_outbox (insert,
update of a mapped column, delete; items under their venda), an update of an unmapped
column records nothing, and `remove` leaves the ERP's DDL exactly as before. On
MariaDB, PostgreSQL and SQLite."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, inspect, select, text
from typer.testing import CliRunner

from crmsync.cli import app
from crmsync.erp.schema_map import load_schema_map
from crmsync.erp.triggers import OUTBOX_TABLE, install_triggers, outbox_table, remove_triggers

from .legacy_schema import LEGACY_MAP, build_legacy_erp, erp_ddl


def _without_rows(snapshot: dict[str, Any]) -> dict[str, Any]:
    return {t: {k: v for k, v in s.items() if k != "rows"} for t, s in snapshot.items()}


def _outbox(url: str) -> list[tuple[str, str, str]]:
    engine = create_engine(url)
    try:
        ob = outbox_table()
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(select(ob.c.tabela, ob.c.chave, ob.c.operacao).order_by(ob.c.id))]  # type: ignore[misc]
    finally:
        engine.dispose()


def _sql(url: str, *statements: str) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            for stmt in statements:
                conn.execute(text(stmt))
    finally:
        engine.dispose()


def test_plain_sql_writes_land_in_the_outbox_and_remove_restores_the_ddl(
    runner: CliRunner, db_url: str, tmp_path: Path
) -> None:
    build_legacy_erp(db_url)
    before = erp_ddl(db_url)
    map_path = tmp_path / "mapa.yaml"
    map_path.write_text(LEGACY_MAP, encoding="utf-8")

    r = runner.invoke(app, ["schema", "triggers", "install", str(map_path), "--url", db_url, "--json"])
    assert r.exit_code == 0, r.output
    installed = json.loads(r.stdout)["gatilhos"]
    assert {t["tabela"] for t in installed} == {"cad_clientes", "cad_produtos", "pedidos", "pedidos_itens"}
    assert len(installed) == 12
    assert _outbox(db_url) == []

    _sql(
        db_url,
        "INSERT INTO cad_clientes (razao, cpf, ativo) VALUES ('Nova Cliente', '529.982.247-25', 'S')",
        "UPDATE cad_clientes SET email = 'ana@example.com' WHERE cod_cli = 1",
        "UPDATE cad_clientes SET fantasia = 'não mapeada' WHERE cod_cli = 2",  # unmapped: nothing
        "UPDATE cad_clientes SET email = email WHERE cod_cli = 3",  # no value changed: nothing
        "DELETE FROM cad_clientes WHERE cod_cli = 5",
        "INSERT INTO pedidos_itens (num_ped, cod_prod, qtd, unitario) VALUES (1, 2, 1, 1234.50)",
        "UPDATE cad_produtos SET preco_venda = '5,49' WHERE cod_prod = 1",
    )
    assert _outbox(db_url) == [
        ("cad_clientes", "6", "I"),
        ("cad_clientes", "1", "U"),
        ("cad_clientes", "5", "D"),
        ("pedidos", "1", "I"),  # an item records its venda
        ("cad_produtos", "1", "U"),
    ]

    # Re-installing (after a map edit) replaces, never duplicates.
    r = runner.invoke(app, ["schema", "triggers", "install", str(map_path), "--url", db_url])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["schema", "triggers", "status", "--url", db_url, "--json"])
    assert len(json.loads(r.stdout)["gatilhos"]) == 12

    r = runner.invoke(app, ["schema", "triggers", "remove", "--url", db_url, "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout) == {"removidos": 12}
    engine = create_engine(db_url)
    assert OUTBOX_TABLE not in inspect(engine).get_table_names()
    engine.dispose()
    assert _without_rows(erp_ddl(db_url)) == _without_rows(before)
    _sql(db_url, "UPDATE cad_clientes SET email = 'x@example.com' WHERE cod_cli = 1")  # no trigger left to fail


def test_primary_key_change_records_both_keys(db_url: str) -> None:
    build_legacy_erp(db_url)
    smap = load_schema_map(LEGACY_MAP)
    engine = create_engine(db_url)
    try:
        install_triggers(smap, engine)
        _sql(db_url, "UPDATE cad_produtos SET cod_prod = 77 WHERE cod_prod = 2")
        assert sorted(_outbox(db_url)) == [("cad_produtos", "2", "U"), ("cad_produtos", "77", "U")]
        assert remove_triggers(engine, keep_outbox=True) == 12
        assert OUTBOX_TABLE in inspect(engine).get_table_names()
        remove_triggers(engine)
    finally:
        engine.dispose()


def test_install_refuses_a_map_that_does_not_fit(runner: CliRunner, sqlite_url: str, tmp_path: Path) -> None:
    build_legacy_erp(sqlite_url)
    before = erp_ddl(sqlite_url)
    map_path = tmp_path / "mapa.yaml"
    map_path.write_text(LEGACY_MAP.replace("coluna: status_ped", "coluna: status_x"), encoding="utf-8")
    r = runner.invoke(app, ["schema", "triggers", "install", str(map_path), "--url", sqlite_url])
    assert r.exit_code == 2 and "status_x" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert erp_ddl(sqlite_url) == before


@pytest.mark.postgres
def test_erp_tables_in_their_own_postgresql_schema(runner: CliRunner, fresh_database: Any, tmp_path: Path) -> None:
    """An ERP in schema `erp` (not public): inspect --esquema drafts a map that names it,
    check passes once the bad rows are fixed, triggers go in and out by schema."""
    url = fresh_database("postgresql")
    build_legacy_erp(url, schema="erp")
    tables = ("cad_clientes", "cad_produtos", "pedidos", "pedidos_itens")
    before = _without_rows(erp_ddl(url, tables, schema="erp"))
    draft = tmp_path / "mapa.yaml"
    r = runner.invoke(app, ["schema", "inspect", "--url", url, "--esquema", "erp", "-o", str(draft)])
    assert r.exit_code == 0, r.output
    smap = load_schema_map(draft)
    assert smap.entidades["cliente"].esquema == "erp" and smap.entidades["venda"].itens is not None
    _sql(
        url,
        "UPDATE erp.cad_clientes SET cpf = NULL WHERE cod_cli = 4",
        "DELETE FROM erp.cad_clientes WHERE cod_cli = 5",
    )
    r = runner.invoke(app, ["schema", "check", str(draft), "--url", url])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["schema", "triggers", "install", str(draft), "--url", url, "--json"])
    assert r.exit_code == 0, r.output
    assert {t["tabela"] for t in json.loads(r.stdout)["gatilhos"]} == {f"erp.{t}" for t in tables}
    _sql(url, "UPDATE erp.cad_clientes SET email = 'novo@example.com' WHERE cod_cli = 2")
    assert _outbox(url) == [("cad_clientes", "2", "U")]
    r = runner.invoke(app, ["schema", "triggers", "remove", "--url", url])
    assert r.exit_code == 0, r.output
    assert _without_rows(erp_ddl(url, tables, schema="erp")) == before


@pytest.mark.postgres
def test_install_and_remove_touch_only_the_maps_tables(runner: CliRunner, fresh_database: Any, tmp_path: Path) -> None:
    """A `crm_outbox_*` trigger outside the map (another schema, another ERP's table) is
    never dropped by install or remove of this map."""
    url = fresh_database("postgresql")
    build_legacy_erp(url)
    _sql(
        url,
        "CREATE SCHEMA outro",
        "CREATE TABLE outro.cad_clientes (id INT PRIMARY KEY)",
        "CREATE FUNCTION outro.f() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$",
        "CREATE TRIGGER crm_outbox_cad_clientes_ai AFTER INSERT ON outro.cad_clientes"
        " FOR EACH ROW EXECUTE FUNCTION outro.f()",
    )
    map_path = tmp_path / "mapa.yaml"
    map_path.write_text(LEGACY_MAP, encoding="utf-8")
    for command in (["install", str(map_path)], ["remove", str(map_path)]):
        r = runner.invoke(app, ["schema", "triggers", *command, "--url", url])
        assert r.exit_code == 0, r.output
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            left = conn.execute(
                text(
                    "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal AND tgrelid = 'outro.cad_clientes'::regclass"
                )
            ).scalars()
            assert list(left) == ["crm_outbox_cad_clientes_ai"]
            assert not conn.execute(
                text("SELECT count(*) FROM pg_trigger WHERE tgrelid = 'cad_clientes'::regclass AND NOT tgisinternal")
            ).scalar()
    finally:
        engine.dispose()
