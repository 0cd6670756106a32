"""The ``sandbox`` command: registration, and a real separate process stopped with Ctrl-C."""

from __future__ import annotations

import httpx
import typer
from support.processes import sandbox_process
from typer.testing import CliRunner

from crmsync.cli.sandbox import register


def test_register_adds_the_command_with_its_options() -> None:
    app = typer.Typer()
    register(app)
    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200", "TERMINAL_WIDTH": "200"})
    assert result.exit_code == 0
    for option in (
        "--host",
        "--port",
        "--rate-limit",
        "--daily-quota",
        "--fault-rate",
        "--seed",
        "--records",
        "--webhook-url",
        "--webhook-secret",
        "--access-token",
        "--secret-access-token",
        "--db",
        "--slow-seconds",
    ):
        assert option in result.output
    bad = CliRunner().invoke(app, ["--fault-rate", "2"])
    assert bad.exit_code == 2


def test_runs_as_a_separate_process_until_ctrl_c() -> None:
    args = ["--port", "0", "--records", "5", "--seed", "3"]
    args += ["--secret-access-token", "super-secret-value", "--rate-limit", "0"]
    with sandbox_process(*args) as sandbox:
        assert sandbox.base_url in sandbox.lines[0]
        assert "super-secret-value" not in sandbox.output and "supe…" in sandbox.output
        headers = {"access-token": "sandbox-access-token", "secret-access-token": "super-secret-value"}
        body = httpx.get(sandbox.base_url + "/api/clientes", headers=headers, timeout=60).json()
        assert body["meta"]["total_registros"] == 5
