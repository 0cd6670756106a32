"""Fixtures for SuiteCRM tests: the SuiteCRM sandbox on loopback, providers wired to it, and
an engine world (one store, one integration with provider "suitecrm") over real HTTP."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

# The engine tests' world helper (a store, an integration, user actions on the local side).
sys.path.insert(0, str(Path(__file__).parents[1] / "engine"))
from engine_world import World, make_world

from crmsync.config import parse_config
from crmsync.db.session import get_sessionmaker
from crmsync.db.sync import CrmIntegracao
from crmsync.engine import RunOptions, SyncEngine
from crmsync.providers.suitecrm import SuiteCrmProvider
from crmsync.providers.suitecrm.auth import forget_all_tokens
from crmsync.sandbox.suitecrm import SuiteCrmSandboxServer
from crmsync.settings import Settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path)


@pytest.fixture
def suite() -> Iterator[SuiteCrmSandboxServer]:
    forget_all_tokens()
    with SuiteCrmSandboxServer(seed=5) as sb:
        yield sb
    forget_all_tokens()


@pytest.fixture
def make_suite_provider(settings: Settings) -> Iterator[Callable[..., SuiteCrmProvider]]:
    opened: list[SuiteCrmProvider] = []

    def make(sb: SuiteCrmSandboxServer, **kwargs: Any) -> SuiteCrmProvider:
        kwargs.setdefault("credentials", {"client_id": sb.client_id, "client_secret": sb.client_secret})
        kwargs.setdefault("settings", settings)
        kwargs.setdefault("rate_limit_per_second", None)
        provider = SuiteCrmProvider(sb.base_url, **kwargs)
        opened.append(provider)
        return provider

    yield make
    for provider in opened:
        provider.close()


@pytest.fixture
def sf(app_env: dict[str, str], sqlite_url: str) -> Iterator[sessionmaker[Session]]:
    yield get_sessionmaker(sqlite_url)


class SuiteWorld:
    """A store whose integration is SuiteCRM, the sandbox behind it, and engine factories."""

    def __init__(self, world: World, sb: SuiteCrmSandboxServer, settings: Settings) -> None:
        self.world = world
        self.sb = sb
        self.settings = settings

    def provider(self, config: dict[str, Any] | None = None, **kwargs: Any) -> SuiteCrmProvider:
        kwargs.setdefault("credentials", {"client_id": self.sb.client_id, "client_secret": self.sb.client_secret})
        return SuiteCrmProvider(
            self.sb.base_url,
            config=parse_config(config or {}),
            settings=self.settings,
            rate_limit_per_second=None,
            **kwargs,
        )

    def engine(self, config: dict[str, Any] | None = None, **kwargs: Any) -> SyncEngine:
        return SyncEngine(
            self.world.sf,
            self.world.integracao_id,
            provider=self.provider(config, **kwargs),
            options=RunOptions(trigger="manual", actor="e2e"),
        )

    def writes(self) -> int:
        return sum(
            1
            for r in self.sb.requests()
            if r.get("method") in ("POST", "PATCH", "DELETE") and "/V8/" in str(r.get("path"))
        )


def as_suitecrm(sf: sessionmaker[Session], world: World, base_url: str) -> None:
    """Turn the world's integration into a SuiteCRM one."""
    with sf() as s, s.begin():
        integ = s.get(CrmIntegracao, world.integracao_id)
        assert integ is not None
        integ.provider = "suitecrm"
        integ.base_url = base_url


@pytest.fixture
def suite_world(sf: sessionmaker[Session], suite: SuiteCrmSandboxServer, settings: Settings) -> Iterator[SuiteWorld]:
    world = make_world(sf, None, {})  # type: ignore[arg-type]
    as_suitecrm(sf, world, suite.base_url)
    suite.reset_stats()
    yield SuiteWorld(world, suite, settings)
