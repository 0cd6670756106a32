"""Fixtures for the spec's practical cases: a sandbox per test (no rate limit, no quota, so
the cases stay fast) and a `world`: one store connected to it, with CLI and API drivers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from crmsync.sandbox.server import SandboxServer

from .spec_harness import World, make_store


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(rate_limit=0, daily_quota=0) as sb:
        yield sb


@pytest.fixture
def world(app_env: dict[str, str], sandbox: SandboxServer) -> Iterator[World]:
    from crmsync.api.app import create_app

    loja_id, key, integ_id = make_store(sandbox)
    with TestClient(create_app(), raise_server_exceptions=False) as client:
        yield World(sandbox=sandbox, loja_id=loja_id, api_key=key, integracao_id=integ_id, client=client)
