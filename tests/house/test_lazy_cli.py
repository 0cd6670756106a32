"""The CLI starts at once: building the `crmsync` app (what `--help` and a typo pay for)
imports no ORM, web framework, HTTP client, queue or validation library; each command
imports what it uses when it runs.

Checked in a fresh interpreter by what ends up in `sys.modules`, not by time (the
machines are noisy): a module-level import of a service in a command module shows up here
as sqlalchemy, fastapi, httpx or huey.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

# pydantic too: the help path needs no validation models (typer 0.29 would load it for --help,
# hence its cap in pyproject.toml); the commands that use the settings load it when they run.
HEAVY = ("sqlalchemy", "fastapi", "httpx", "huey", "uvicorn", "starlette", "pydantic")

# Build the app and its click command tree (what `--help` renders), then report the heavy
# top-level packages that got imported.
_PROBE = """
import json, sys
{setup}
heavy = sorted({{name.split(".")[0] for name in sys.modules}} & set({heavy!r}))
print(json.dumps(heavy))
"""


def _heavy_after(setup: str) -> list[str]:
    code = _PROBE.format(setup=setup, heavy=HEAVY)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return list(json.loads(done.stdout.strip().splitlines()[-1]))


def test_importing_the_cli_loads_nothing_heavy() -> None:
    assert _heavy_after("import crmsync.cli") == []


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["sandbox", "--help"],
        ["loja", "--help"],
        ["integration", "add", "--help"],
        ["push", "--help"],
        ["schema", "--help"],
    ],
)
def test_help_loads_nothing_heavy(argv: list[str]) -> None:
    """Rendering the help runs Typer over every command's options: still no heavy import."""
    setup = f"""
import typer.main
from crmsync.cli import app
try:
    typer.main.get_command(app).main(args={argv!r}, prog_name="crmsync", standalone_mode=False)
except SystemExit:
    pass
"""
    assert _heavy_after(setup) == []


def test_python_m_sandbox_help_loads_no_cli_and_no_server() -> None:
    """`python -m crmsync.sandbox --help` needs neither the CLI above it nor FastAPI."""
    setup = """
import runpy
sys.argv = ["crmsync.sandbox", "--help"]
try:
    runpy.run_module("crmsync.sandbox", run_name="__main__")
except SystemExit:
    pass
assert "crmsync.cli" not in sys.modules, "crmsync.sandbox imported the CLI"
"""
    assert _heavy_after(setup) == []


def test_a_command_still_loads_what_it_uses_when_it_runs() -> None:
    """The lazy names resolve: a command module's service is imported on first use."""
    setup = """
from crmsync.cli import admin
admin.integ_svc.integracao_to_dict  # first use of the service module
"""
    assert "sqlalchemy" in _heavy_after(setup)
