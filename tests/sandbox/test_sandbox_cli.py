"""The ``sandbox`` command: registration, and a real separate process stopped with Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import httpx
import typer
from typer.testing import CliRunner

from crmsync.cli.sandbox import register

# The process exits in about 1 s; on a loaded machine its interpreter teardown (every module
# that `python -m crmsync.sandbox` imported) can take many times that. The wait ends as soon
# as it exits: the deadline only bounds a hang.
EXIT_DEADLINE = 120


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
    cmd = [
        sys.executable,
        "-m",
        "crmsync.sandbox",
        "--port",
        "0",
        "--records",
        "5",
        "--seed",
        "3",
        "--secret-access-token",
        "super-secret-value",
        "--rate-limit",
        "0",
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        match = re.search(r"(http://127\.0\.0\.1:\d+)", first)
        assert match, first
        base = match.group(1)
        lines = [first]
        while "Ctrl-C" not in lines[-1]:
            assert lines[-1] or len(lines) == 1, "".join(lines)  # '' is the end: the process died
            lines.append(proc.stdout.readline())
        output = "".join(lines)
        assert "super-secret-value" not in output and "supe…" in output
        headers = {"access-token": "sandbox-access-token", "secret-access-token": "super-secret-value"}
        body = httpx.get(base + "/api/clientes", headers=headers, timeout=60).json()
        assert body["meta"]["total_registros"] == 5
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=EXIT_DEADLINE) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
