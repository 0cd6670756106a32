"""Fixtures of the ERP-core tests (helpers in legacy_schema.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from crmsync.settings import reset_settings_cache


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[CliRunner]:
    """The CLI run in an empty directory with no schema map, ERP or database URL set: what a
    command uses is what the test passes it."""
    monkeypatch.chdir(tmp_path)
    for var in ("CRMSYNC_SCHEMA_MAP", "CRMSYNC_ERP_DATABASE_URL", "CRMSYNC_DATABASE_URL"):
        monkeypatch.delenv(var, raising=False)
    reset_settings_cache()
    yield CliRunner()
    reset_settings_cache()
