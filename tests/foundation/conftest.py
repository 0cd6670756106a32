"""Fixtures of the foundation tests: the real app (FastAPI's in-process ASGI client) on a
migrated SQLite database (`app_env` of the shared conftest), and two stores."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from crmsync.api.app import create_app

from .helpers import Store, make_store


@pytest.fixture
def client(app_env: dict[str, str]) -> Iterator[TestClient]:
    with TestClient(create_app()) as c:
        yield c


@pytest.fixture
def store(app_env: dict[str, str]) -> Store:
    return make_store("Loja A")


@pytest.fixture
def other_store(app_env: dict[str, str]) -> Store:
    return make_store("Loja B")
