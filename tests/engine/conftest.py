"""Fixtures for engine tests: a migrated SQLite database with one store and one integration."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

# pytest runs in importlib mode (same-named test files in different areas): make the shared
# helper module of this directory importable by the test modules beside it.
sys.path.insert(0, str(Path(__file__).parent))
from engine_world import World, make_world

from crmsync.db.session import get_sessionmaker
from crmsync.providers.memory import MemoryProvider


@pytest.fixture
def sf(app_env: dict[str, str], sqlite_url: str) -> Iterator[sessionmaker[Session]]:
    yield get_sessionmaker(sqlite_url)


@pytest.fixture
def world_factory(sf: sessionmaker[Session]) -> Callable[..., World]:
    def make(config: dict[str, Any] | None = None, **provider_kw: Any) -> World:
        return make_world(sf, MemoryProvider(**provider_kw), config)

    return make


@pytest.fixture
def world(world_factory: Callable[..., World]) -> World:
    return world_factory()
