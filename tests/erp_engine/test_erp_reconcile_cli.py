"""`crmsync reconcile --loja N [--full]`: the hash scan of every mapped entity by hand,
pushing what changed (issue #19); `--full` also re-reads every CRM record."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from erp_world import attach
from typer.testing import CliRunner

from crmsync.cli import app
from crmsync.db.session import dispose_engines
from crmsync.sandbox import SandboxServer
from crmsync.settings import reset_settings_cache


def test_reconcile_scans_every_mapped_entity_and_pushes_what_changed(
    fresh_database: Any, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    erp = attach(fresh_database("sqlite"), sandbox, monkeypatch, tmp_path)
    try:
        runner = CliRunner()
        first = runner.invoke(app, ["reconcile", "--loja", "1", "--json"])
        assert first.exit_code == 1, first.output  # the two legacy rows that do not convert
        report = json.loads(first.stdout)
        assert set(report["entidades"]) == {"cliente", "produto", "venda"}
        assert erp.remote("clientes", "nome", "José da Conceição")
        assert erp.remote("produtos", "codigo_interno", "ACU-1")
        erp.sql("UPDATE cad_produtos SET preco_venda = '7,77' WHERE cod_prod = 1")  # no modified column
        again = runner.invoke(app, ["reconcile", "--loja", "1", "--entity", "produto", "--full", "--json"])
        assert again.exit_code == 0, again.output
        block = json.loads(again.stdout)["entidades"]["produto"]
        assert block["para_crm"]["sucessos"] == 1 and "do_crm" in block
        assert [p for p in erp.remote("produtos", "codigo_interno", "ACU-1") if "7.77" in str(p["valor_venda"])]
        refused = runner.invoke(app, ["reconcile", "--loja", "99"])
        assert refused.exit_code == 2 and len(refused.stderr.strip().splitlines()) == 1
    finally:
        erp.close()
        dispose_engines()
        reset_settings_cache()
