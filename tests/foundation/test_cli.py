"""The administration CLI through Typer's runner: `db upgrade`, `loja add|list`,
`integration add|list|show|set-config|enable|disable`, with `--json`, exit code 2 and one
line on bad input, and credentials never printed in full."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.settings_env import settings_env
from typer.testing import CliRunner

from crmsync.cli import app

ACCESS = "gc-access-0123456789"
SECRET = "gc-secret-9876543210"


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    """A fresh data directory with *no* database yet: the commands must create it."""
    with settings_env(monkeypatch, tmp_path):
        yield CliRunner()


def _json(runner: CliRunner, *args: str) -> object:
    r = runner.invoke(app, [*args, "--json"])
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def test_db_upgrade(runner: CliRunner, tmp_path: Path) -> None:
    r = runner.invoke(app, ["db", "upgrade"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "cli.db").exists()
    assert _json(runner, "db", "upgrade")["ok"] is True  # type: ignore[index]


def test_loja_add_prints_id_and_key_once(runner: CliRunner) -> None:
    r = runner.invoke(app, ["loja", "add", "--nome", "Loja Centro"])
    assert r.exit_code == 0, r.output
    assert "id 1" in r.output and "crm_" in r.output
    data = _json(runner, "loja", "add", "--nome", "Loja Norte", "--id", "10")
    assert isinstance(data, dict) and data["id"] == 10 and data["api_key"].startswith("crm_")
    listed = _json(runner, "loja", "list")
    assert isinstance(listed, list) and [s["id"] for s in listed] == [1, 10]
    assert data["api_key"] not in json.dumps(listed)
    r = runner.invoke(app, ["loja", "list"])
    assert r.exit_code == 0 and "Loja Norte" in r.output and data["api_key"] not in r.output

    r = runner.invoke(app, ["loja", "add", "--nome", "Outra", "--id", "10"])
    assert r.exit_code == 2
    assert r.output.strip().startswith("erro:") and len(r.output.strip().splitlines()) == 1
    r = runner.invoke(app, ["loja", "add", "--nome", "   "])
    assert r.exit_code == 2


def test_integration_commands(runner: CliRunner, tmp_path: Path) -> None:
    runner.invoke(app, ["loja", "add", "--nome", "Loja"])
    add = [
        "integration",
        "add",
        "--sem-verificar",
        "--loja",
        "1",
        "--provider",
        "gestao_click",
        "--base-url",
        "https://api.gestaoclick.com",
        "--access-token",
        ACCESS,
        "--secret-access-token",
        SECRET,
    ]
    r = runner.invoke(app, add)
    assert r.exit_code == 0, r.output
    assert ACCESS not in r.output and SECRET not in r.output
    assert "/api/crm/webhook/gestao_click/" in r.output

    r = runner.invoke(app, add)  # one integration per store and provider
    assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1

    for args in (
        ["integration", "list"],
        ["integration", "show", "1"],
        ["integration", "list", "--json"],
        ["integration", "show", "1", "--json"],
    ):
        r = runner.invoke(app, args)
        assert r.exit_code == 0, r.output
        assert ACCESS not in r.output and SECRET not in r.output, args
    shown = _json(runner, "integration", "show", "1")
    assert isinstance(shown, dict)
    assert shown["credenciais"] == {"access_token": "gc-a…", "secret_access_token": "gc-s…"}
    assert shown["config"]["estrategia_padrao"] == "last_write_wins"

    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"estrategia_padrao": "crm_wins", "pull_interval_minutes": 5}))
    assert runner.invoke(app, ["integration", "set-config", "1", str(cfg)]).exit_code == 0
    config = _json(runner, "integration", "show", "1")["config"]  # type: ignore[index]
    assert config["estrategia_padrao"] == "external_wins" and config["intervalo_pull_minutos"] == 5

    assert _json(runner, "integration", "disable", "1")["ativo"] is False  # type: ignore[index]
    assert _json(runner, "integration", "list", "--loja", "1")[0]["ativo"] is False  # type: ignore[index]
    assert _json(runner, "integration", "enable", "1")["ativo"] is True  # type: ignore[index]
    assert _json(runner, "integration", "list", "--loja", "2") == []

    connection = ["--base-url", "https://x.example", "--access-token", "a", "--secret-access-token", "b"]
    for args in (
        ["integration", "show", "99"],
        ["integration", "enable", "99"],
        ["integration", "add", "--loja", "99", *connection],
        ["integration", "add", "--loja", "1", "--provider", "hubspot", *connection],
    ):
        r = runner.invoke(app, args)
        assert r.exit_code == 2, (args, r.output)
        assert r.output.strip().startswith("erro:")
