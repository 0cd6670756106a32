"""A map without `venda` (issue #19): `sync` syncs clientes and produtos and nothing
else; asking for the entity the map lacks is refused before any work (exit 2, one line)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from erp_world import MAP_PATH, attach
from typer.testing import CliRunner

from crmsync.cli import app
from crmsync.db.session import dispose_engines
from crmsync.sandbox import SandboxServer
from crmsync.settings import reset_settings_cache


def test_sync_skips_what_the_map_lacks_and_refuses_it_by_name(
    fresh_database: Any, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    erp = attach(fresh_database("sqlite"), sandbox, monkeypatch, tmp_path)
    try:
        text = MAP_PATH.read_text(encoding="utf-8")
        partial = tmp_path / "sem-venda.yaml"
        partial.write_text(text[: text.index("  venda:")], encoding="utf-8")
        monkeypatch.setenv("CRMSYNC_SCHEMA_MAP", str(partial))
        reset_settings_cache()
        runner = CliRunner()
        for command in ("sync", "push", "pull"):
            writes = erp.writes()
            refused = runner.invoke(app, [command, "--loja", "1", "--entity", "venda"])
            assert refused.exit_code == 2, refused.output
            lines = [line for line in refused.stderr.splitlines() if line.strip()]
            assert len(lines) == 1 and "venda" in lines[0] and "mapa" in lines[0], refused.stderr
            assert erp.writes() == writes  # nothing was done first
        result = runner.invoke(app, ["sync", "--loja", "1", "--json"])
        assert result.exit_code in (0, 1), result.output  # 1: the legacy rows that do not convert
        assert "erro: venda" not in result.output + result.stderr
        assert erp.remote("clientes", "nome", "José da Conceição")
        assert erp.remote("produtos", "codigo_interno", "ACU-1")
        assert not erp.sb.panel_list("vendas")
    finally:
        erp.close()
        dispose_engines()
        reset_settings_cache()
