"""Both layouts are settings: the ERP's URL defaults to ours, can be another database, and
the `schema` commands take the ERP's URL and the map from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from crmsync.cli import app
from crmsync.settings import Settings, reset_settings_cache

from .legacy_schema import LEGACY_MAP, build_legacy_erp


def test_erp_url_defaults_to_ours_and_can_be_another(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("CRMSYNC_ERP_DATABASE_URL", raising=False)
    monkeypatch.setenv("CRMSYNC_DATABASE_URL", "postgresql+psycopg://u@h/ours")
    assert Settings().resolved_erp_database_url() == "postgresql+psycopg://u@h/ours"
    monkeypatch.setenv("CRMSYNC_ERP_DATABASE_URL", "mysql+pymysql://u@h/erp")
    assert Settings().resolved_erp_database_url() == "mysql+pymysql://u@h/erp"
    monkeypatch.delenv("CRMSYNC_DATABASE_URL")
    monkeypatch.delenv("CRMSYNC_ERP_DATABASE_URL")
    monkeypatch.setenv("CRMSYNC_DATA_DIR", str(tmp_path))
    assert Settings().resolved_erp_database_url() == f"sqlite:///{(tmp_path / 'crmsync.db').as_posix()}"
    assert Settings().schema_map == ""


def test_schema_commands_read_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sqlite_url: str, fresh_database: object
) -> None:
    build_legacy_erp(sqlite_url)
    map_path = tmp_path / "mapa.yaml"
    map_path.write_text(LEGACY_MAP, encoding="utf-8")
    ours = fresh_database("sqlite")  # type: ignore[operator]
    monkeypatch.setenv("CRMSYNC_DATABASE_URL", ours)
    monkeypatch.setenv("CRMSYNC_ERP_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("CRMSYNC_SCHEMA_MAP", str(map_path))
    reset_settings_cache()
    try:
        r = CliRunner().invoke(app, ["schema", "check"])
        assert r.exit_code == 1 and "cad_clientes chave 4" in r.stderr  # the ERP's database was read
        r = CliRunner().invoke(app, ["schema", "triggers", "install"])
        assert r.exit_code == 0, r.output
        r = CliRunner().invoke(app, ["schema", "triggers", "status", "--json"])
        assert '"cad_clientes"' in r.stdout
        r = CliRunner().invoke(app, ["schema", "triggers", "remove"])
        assert r.exit_code == 0, r.output
    finally:
        reset_settings_cache()


def test_a_missing_or_broken_map_stops_start_up_and_a_later_bad_edit_keeps_the_old_map(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sqlite_url: str
) -> None:
    import os

    from crmsync.erp.schema_map import active_schema_map

    map_path = tmp_path / "mapa.yaml"
    monkeypatch.setenv("CRMSYNC_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("CRMSYNC_SCHEMA_MAP", str(map_path))
    reset_settings_cache()
    try:
        # at start-up: no file, then a file naming a converter that does not exist
        for command in (["worker"], ["loja", "list"]):
            r = CliRunner().invoke(app, command)
            assert r.exit_code == 2 and str(map_path) in r.stderr and "ler o arquivo" in r.stderr, r.output
            assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.output
        map_path.write_text(
            LEGACY_MAP.replace("conversor: cpf_formatado", "conversor: cpf_magico", 1), encoding="utf-8"
        )
        r = CliRunner().invoke(app, ["loja", "list"])
        assert r.exit_code == 2 and "cpf_magico" in r.stderr, r.output
        # a good map loads; a bad edit while running keeps it (and so does deleting the file)
        map_path.write_text(LEGACY_MAP, encoding="utf-8")
        os.utime(map_path, (1_000_000, 1_000_000))
        good = active_schema_map()
        assert good.entidades["cliente"].tabela == "cad_clientes"
        map_path.write_text("entidades: [", encoding="utf-8")
        os.utime(map_path, (2_000_000, 2_000_000))
        assert active_schema_map() is good
        map_path.unlink()
        assert active_schema_map() is good
    finally:
        reset_settings_cache()
