"""Fixtures of the provider contract: `side` is parametrised by provider, each a real
provider and its real sandbox on loopback (see contract_sides)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # the helper module beside this file
sys.path.insert(0, str(Path(__file__).parents[1]))  # real_suitecrm, the real SuiteCRM's helper
from contract_sides import GestaoClickSide, RealSuiteCrmSide, Side, SuiteCrmSide
from real_suitecrm import real_suite

from crmsync.providers.suitecrm.auth import forget_all_tokens
from crmsync.sandbox.server import SandboxServer
from crmsync.sandbox.suitecrm import SuiteCrmSandboxServer
from crmsync.settings import Settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path)


@pytest.fixture(params=["gestao_click", "suitecrm", "suitecrm_real"])
def side(request: pytest.FixtureRequest, settings: Settings) -> Iterator[Side]:
    if request.param == "gestao_click":
        with SandboxServer(rate_limit=0, daily_quota=0, fault_rate=0.0, seed=0) as sb:
            gc = GestaoClickSide(sb, settings)
            yield gc
            for p in gc.opened:
                p.close()
    elif request.param == "suitecrm_real":
        forget_all_tokens()
        real = RealSuiteCrmSide(real_suite(), settings)
        yield real
        for p in real.opened:
            p.close()
        real.real_suite.retire()
        forget_all_tokens()
    else:
        forget_all_tokens()
        with SuiteCrmSandboxServer(seed=0, retry_after_seconds=1) as ssb:
            yield SuiteCrmSide(ssb, settings)
        forget_all_tokens()
