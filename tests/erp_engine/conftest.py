"""Fixtures for the ERP-engine acceptance tests (see erp_world.py)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from crmsync.db.session import dispose_engines
from crmsync.sandbox import SandboxServer
from crmsync.settings import reset_settings_cache

# pytest runs in importlib mode: make the helper module beside this file importable.
sys.path.insert(0, str(Path(__file__).parent))
from erp_world import Erp, attach


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(rate_limit=0, daily_quota=0, seed=7, slow_seconds=0.2) as sb:
        yield sb


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def erp(
    request: pytest.FixtureRequest,
    fresh_database: Any,
    sandbox: SandboxServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Iterator[Erp]:
    if request.param != "sqlite":
        request.applymarker(getattr(pytest.mark, "postgres" if request.param == "postgresql" else "mariadb"))
    world = attach(fresh_database(request.param), sandbox, monkeypatch, tmp_path)
    yield world
    world.close()
    dispose_engines()
    reset_settings_cache()
