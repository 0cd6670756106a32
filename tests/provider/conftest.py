"""Fixtures for provider tests: the real sandbox on loopback and providers wired to it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from gc_helpers import CREDENTIALS
from support.factories import closed_after

from crmsync.providers.gestaoclick import GestaoClickProvider
from crmsync.sandbox.server import SandboxServer
from crmsync.settings import Settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path)


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    """No rate limit, no faults: for tests that are about data, not about pacing."""
    with SandboxServer(rate_limit=0, daily_quota=0, fault_rate=0.0, seed=0) as sb:
        yield sb


@pytest.fixture
def make_provider(settings: Settings) -> Iterator[Callable[..., GestaoClickProvider]]:
    def make(base_url: str, **kwargs: Any) -> GestaoClickProvider:
        kwargs.setdefault("credentials", CREDENTIALS)
        kwargs.setdefault("settings", settings)
        kwargs.setdefault("rate_limit_per_second", None)  # unpaced unless the test is about pacing
        kwargs.setdefault("daily_quota", None)
        return GestaoClickProvider(base_url, **kwargs)

    yield from closed_after(make)


@pytest.fixture
def provider(sandbox: SandboxServer, make_provider: Callable[..., GestaoClickProvider]) -> GestaoClickProvider:
    return make_provider(sandbox.base_url)
