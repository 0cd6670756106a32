"""A database error on the command line says its cause in one line (the driver's message,
cut, no password), and "not migrated / run db upgrade" only when the database really is
behind the migrations (issue #19: every error used to say "unavailable or not migrated")."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from crmsync.cli import app
from crmsync.cli.common import database_cause
from crmsync.db.schema import upgrade
from crmsync.db.session import dispose_engines
from crmsync.settings import reset_settings_cache


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[CliRunner]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CRMSYNC_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CRMSYNC_SECRET_KEY", "xJ7Ob0rNwrZ0Vq3r9mOe2jvV6lE4hN8XcZ1pQ5sT7uY=")
    for var in ("CRMSYNC_SCHEMA_MAP", "CRMSYNC_ERP_DATABASE_URL"):
        monkeypatch.delenv(var, raising=False)
    reset_settings_cache()
    dispose_engines()
    yield CliRunner()
    dispose_engines()
    reset_settings_cache()


def _use(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("CRMSYNC_DATABASE_URL", url)
    reset_settings_cache()
    dispose_engines()


def _error_line(result: object) -> str:
    stderr = getattr(result, "stderr", "")
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


def test_an_empty_database_is_not_migrated_and_says_why(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch, sqlite_url: str
) -> None:
    _use(monkeypatch, sqlite_url)
    result = runner.invoke(app, ["log"])
    assert result.exit_code == 2
    line = _error_line(result)
    assert "não migrado" in line and "crmsync db upgrade" in line
    assert "no such table" in line  # the driver's own words


def test_a_migrated_database_with_another_error_never_says_not_migrated(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch, sqlite_url: str
) -> None:
    upgrade(sqlite_url)
    engine = create_engine(sqlite_url)
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE crm_sync_log RENAME TO crm_sync_log_fora"))
    engine.dispose()
    _use(monkeypatch, sqlite_url)
    result = runner.invoke(app, ["log"])
    assert result.exit_code == 2
    line = _error_line(result)
    assert "não migrado" not in line and "upgrade" not in line
    assert line.startswith("erro: banco de dados: ") and "crm_sync_log" in line


def test_an_unreachable_server_says_so_without_the_password(runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    _use(monkeypatch, f"mysql+pymysql://crmsync:s3nh4-S3creta@127.0.0.1:{port}/erp")
    result = runner.invoke(app, ["log"])
    assert result.exit_code == 2
    line = _error_line(result)
    assert "s3nh4-S3creta" not in result.output + result.stderr
    assert "não migrado" not in line
    assert "2003" in line or "connect" in line.lower()


def test_the_cause_is_one_cut_line_with_secrets_masked() -> None:
    long = "could not connect to postgresql://app:hunter2@db.example/erp\n  password=hunter2 " + "x" * 500
    line = database_cause(RuntimeError(long))
    assert "hunter2" not in line and "\n" not in line and len(line) <= 200
    assert "postgresql://app:***@db.example" in line
