"""Fixtures for SuiteCRM tests: the SuiteCRM sandbox on loopback, providers wired to it, and
an engine world (one store, one integration with provider "suitecrm") over real HTTP."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

# The engine tests' world helper (a store, an integration, user actions on the local side).
sys.path.insert(0, str(Path(__file__).parents[1] / "engine"))
from engine_world import World, make_world
from real_suitecrm import real_suite
from support.factories import closed_after

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
    def make(sb: SuiteCrmSandboxServer, **kwargs: Any) -> SuiteCrmProvider:
        kwargs.setdefault("credentials", {"client_id": sb.client_id, "client_secret": sb.client_secret})
        kwargs.setdefault("settings", settings)
        kwargs.setdefault("rate_limit_per_second", None)
        return SuiteCrmProvider(sb.base_url, **kwargs)

    yield from closed_after(make)


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


@dataclass
class Target:
    """A SuiteCRM under test, and how to look into its database behind the API."""

    name: str
    base_url: str
    credentials: dict[str, str]
    email_rows: Callable[[str, str], list[tuple[str, int]]]
    bean: Callable[[str, str], dict[str, Any]]
    tag: str


def suite_target(kind: str) -> Iterator[Target]:
    """A fixture's body (`yield from`): the SuiteCRM a test runs against, "standin" (a sandbox
    of its own) or "real" (skips unless SUITECRM_URL and its credentials are set)."""
    forget_all_tokens()
    if kind == "real":
        real = real_suite()

        def real_bean(module: str, bean_id: str) -> dict[str, Any]:
            table = {"Contacts": "contacts", "Accounts": "accounts"}[module]
            cstm, field = {"Contacts": ("contacts_cstm", "cpf_c"), "Accounts": ("accounts_cstm", "cnpj_c")}[module]
            rows = real.query(
                f"SELECT t.deleted, c.{field} FROM {table} t LEFT JOIN {cstm} c ON c.id_c = t.id WHERE t.id = %s",
                bean_id,
            )
            return {"deleted": str(rows[0][0]), field: rows[0][1]} if rows else {}

        yield Target("real", real.base_url, real.credentials, real.email_rows, real_bean, real.tag)
        real.retire()
        forget_all_tokens()
        return
    with SuiteCrmSandboxServer(seed=0) as sb:

        def rows(module: str, bean_id: str) -> list[tuple[str, int]]:
            return [(r["email_address"], int(r["primary"])) for r in sb.store.emails.live(module, bean_id)]

        def bean(module: str, bean_id: str) -> dict[str, Any]:
            return sb.store.get(module, bean_id, include_deleted=True)

        yield Target(
            "standin",
            sb.base_url,
            {"client_id": sb.client_id, "client_secret": sb.client_secret},
            rows,
            bean,
            uuid.uuid4().hex[:10],
        )
    forget_all_tokens()
