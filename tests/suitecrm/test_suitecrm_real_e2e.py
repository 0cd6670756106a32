"""The engine over real HTTP against both the SuiteCRM stand-in and the real SuiteCRM 7.14.6:
a PF and a PJ pushed from the store, then a local e-mail change that reaches SuiteCRM and
stays (the new address primary, the old one gone), and a second push that writes nothing.

Only pushes of the test's own records run here: the real instance is shared by the run, and a
full pull would import every other test's records."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from sqlalchemy.orm import Session, sessionmaker
from suite_world import Target, as_suitecrm, suite_target

sys.path.insert(0, str(Path(__file__).parents[1]))
from engine_world import World, make_world
from support.documents import cpf_from

from crmsync.config import parse_config
from crmsync.db.local import Cliente
from crmsync.engine import RunOptions, SyncEngine
from crmsync.providers.suitecrm import SuiteCrmProvider
from crmsync.settings import Settings

SPEC_CONFIG = yaml.safe_load((Path(__file__).parents[2] / "crmsync/examples/spec-config.yaml").read_text())


@pytest.fixture(params=["standin", "real"])
def target(request: pytest.FixtureRequest) -> Iterator[Target]:
    yield from suite_target(request.param)


@pytest.fixture
def world(sf: sessionmaker[Session], target: Target) -> World:
    w = make_world(sf, None, {})  # type: ignore[arg-type]
    as_suitecrm(sf, w, target.base_url)
    return w


def _engine(world: World, target: Target, settings: Settings) -> SyncEngine:
    provider = SuiteCrmProvider(
        target.base_url,
        credentials=target.credentials,
        config=parse_config(SPEC_CONFIG),
        settings=settings,
        rate_limit_per_second=None,
    )
    return SyncEngine(
        world.sf, world.integracao_id, provider=provider, options=RunOptions(trigger="manual", actor="e2e")
    )


def _cnpj(seed: int) -> str:
    base = [int(d) for d in f"{seed % 10**8:08d}0001"]
    for weights in ([5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2], [6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]):
        rest = sum(d * w for d, w in zip(base, weights, strict=True)) % 11
        base.append(0 if rest < 2 else 11 - rest)
    return "".join(map(str, base))


def test_a_local_email_change_reaches_suitecrm_and_stays(world: World, target: Target, settings: Settings) -> None:
    tag = target.tag
    old, new = f"maria.{tag}@example.com", f"maria.nova.{tag}@example.com"
    maria = world.add_cliente(nome=f"Maria {tag}", email=old, cpf=cpf_from(uuid.uuid4().int))
    engine = _engine(world, target, settings)
    try:
        first = engine.push_one("cliente", maria)
        assert first.success and first.operacao == "create", first
        link = world.link_of("cliente", maria)
        assert link is not None and link.external_id.startswith("Contacts:")
        bean = link.external_id.partition(":")[2]
        assert target.email_rows("Contacts", bean) == [(old, 1)]
        assert target.bean("Contacts", bean)["cpf_c"]  # the custom field is written

        world.edit(Cliente, maria, email=new)
        second = engine.push_one("cliente", maria)
        assert second.success and second.operacao == "update", second

        assert target.email_rows("Contacts", bean) == [(new, 1)]  # new primary; old no longer linked
        got = engine.provider.get("cliente", link.external_id)
        assert got.data["email"] == new
        assert world.get(Cliente, maria).email == new
        third = engine.push_one("cliente", maria)  # nothing left to write: the base moved with the CRM
        assert third.success and third.operacao in ("noop", "skip", "nenhuma", "sem_mudanca", "unchanged"), third
        assert target.email_rows("Contacts", bean) == [(new, 1)]
    finally:
        engine.provider.close()


def test_a_company_is_an_account_and_its_email_change_stores(world: World, target: Target, settings: Settings) -> None:
    tag = target.tag
    old, new = f"contato.{tag}@empresa.com", f"financeiro.{tag}@empresa.com"
    acme = world.add_cliente(tipo_pessoa="PJ", nome=f"Acme {tag} Ltda", email=old, cnpj=_cnpj(uuid.uuid4().int))
    engine = _engine(world, target, settings)
    try:
        assert engine.push_one("cliente", acme).success
        link = world.link_of("cliente", acme)
        assert link is not None and link.external_id.startswith("Accounts:")
        bean = link.external_id.partition(":")[2]
        world.edit(Cliente, acme, email=new)
        assert engine.push_one("cliente", acme).success
        assert target.email_rows("Accounts", bean) == [(new, 1)]
    finally:
        engine.provider.close()
