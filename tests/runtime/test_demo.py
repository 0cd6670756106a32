"""`crmsync demo --once` works on a fresh machine: SQLite defaults in an empty directory, no
configuration, and it reports each step as done."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def _demo(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`crmsync demo ARGS` in its own process, in `cwd`, with no CRMSYNC_* setting; it must exit 0."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRMSYNC_")}
    proc = subprocess.run(
        [sys.executable, "-c", "from crmsync.cli import app; app()", "demo", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_demo_once_in_an_empty_directory(tmp_path: Path) -> None:
    proc = _demo(tmp_path, "--once", "--json")
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["primeira_sincronizacao"]["success"] is True
    assert report["alteracao_local"]["propagou"] is True
    assert report["alteracao_crm"]["propagou"] is True
    assert report["conflito"]["id"] is not None
    assert report["console"].startswith("http://127.0.0.1:") and report["console"].endswith("/console")
    assert report["chave_api"].startswith("crm_")
    assert (tmp_path / "crmsync.db").exists()  # the defaults: files in the current directory

    # Human output, in Portuguese, says where to look.
    proc = _demo(tmp_path, "--once")
    assert "console: http://127.0.0.1:" in proc.stdout
    assert "chave de API da loja" in proc.stdout
    assert "conflito" in proc.stdout
