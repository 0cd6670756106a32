"""The CLI on an ERP's own tables: the same commands, the ERP's keys, failed items named by
table and key, the exit code saying some items failed."""

from __future__ import annotations

from erp_world import Erp
from typer.testing import CliRunner

from crmsync.cli import app


def test_cli_push_and_pull_on_the_legacy_schema(erp: Erp) -> None:
    runner = CliRunner()
    one = runner.invoke(app, ["push", "--loja", "1", "--entity", "cliente", "--id", "1", "--json"])
    assert one.exit_code == 0, one.output
    assert erp.remote("clientes", "nome", "José da Conceição")
    everything = runner.invoke(app, ["push", "--loja", "1", "--entity", "cliente", "--json"])
    assert everything.exit_code == 1, everything.output  # the two legacy rows that do not convert
    assert "cad_clientes #4" in everything.output and "cad_clientes #5" in everything.output
    erp.sb.panel_create("clientes", {"nome": "Via CLI", "tipo_pessoa": "PF", "email": "cli@example.com"})
    pulled = runner.invoke(app, ["pull", "--loja", "1", "--entity", "cliente", "--json"])
    assert pulled.exit_code == 0, pulled.output
    assert erp.one("SELECT razao FROM cad_clientes WHERE email = 'cli@example.com'").razao == "Via CLI"
