"""`crmsync integration add --provider suitecrm`: credentials the provider asks for, config
options validated by the provider, exit 2 with one line on bad input, no secret printed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.settings_env import settings_env
from typer.testing import CliRunner

from crmsync.cli import app
from crmsync.crypto import decrypt_json
from crmsync.db.session import get_sessionmaker
from crmsync.db.sync import CrmIntegracao

SECRET = "suite-secret-0123456789"


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    with settings_env(monkeypatch, tmp_path):
        yield CliRunner()


def test_integration_add_suitecrm(runner: CliRunner, tmp_path: Path) -> None:
    assert runner.invoke(app, ["loja", "add", "--nome", "Loja"]).exit_code == 0
    base = ["integration", "add", "--sem-verificar", "--loja", "1", "--provider", "suitecrm"]
    base += ["--base-url", "https://crm.loja.com.br"]

    missing = runner.invoke(app, [*base, "--client-id", "crmsync"])
    assert missing.exit_code == 2 and "client_secret" in missing.output
    assert len(missing.output.strip().splitlines()) == 1

    bad = tmp_path / "bad.yaml"
    bad.write_text("opcoes_provedor:\n  campo_cpf: 'cpf c'\n", encoding="utf-8")
    refused = runner.invoke(app, [*base, "--client-id", "crmsync", "--client-secret", SECRET, "--config", str(bad)])
    assert refused.exit_code == 2 and "opcoes_provedor.campo_cpf" in refused.output

    good = tmp_path / "good.yaml"
    good.write_text("opcoes_provedor:\n  campo_cpf: documento_c\n", encoding="utf-8")
    added = runner.invoke(app, [*base, "--client-id", "crmsync", "--client-secret", SECRET, "--config", str(good)])
    assert added.exit_code == 0, added.output
    assert "SuiteCRM" in added.output and SECRET not in added.output

    shown = runner.invoke(app, ["integration", "show", "1", "--json"])
    assert shown.exit_code == 0 and SECRET not in shown.output
    data = json.loads(shown.stdout)
    assert data["provider"] == "suitecrm" and data["config"]["opcoes_provedor"]["campo_cpf"] == "documento_c"

    with get_sessionmaker()() as s:
        integ = s.get(CrmIntegracao, 1)
        assert integ is not None
        assert decrypt_json(integ.credenciais) == {"client_id": "crmsync", "client_secret": SECRET}

    # GestãoClick in the same store, still with its own flags: one store, two providers
    gc = runner.invoke(
        app,
        [
            "integration", "add", "--sem-verificar", "--loja", "1", "--base-url", "https://api.gestaoclick.com",
            "--access-token", "gc-access-0123456789", "--secret-access-token", "gc-secret-9876543210",
        ],
    )  # fmt: skip
    assert gc.exit_code == 0 and "GestãoClick" in gc.output
