"""Fixtures for engine tests: a migrated SQLite database with one store and one integration."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from engine_world import World, make_world
from sqlalchemy.orm import Session, sessionmaker

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
