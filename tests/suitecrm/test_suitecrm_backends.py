"""The SuiteCRM cycle on SQLite, PostgreSQL and MariaDB: import, export, a person turned
company relinked, a remote delete found by the id scan, and a settled store writing nothing."""

from __future__ import annotations

import pytest
from engine_world import make_world
from suite_world import SuiteWorld, as_suitecrm

import crmsync.engine.pull as engine_pull
from crmsync.db.local import Cliente
from crmsync.db.schema import create_schema
from crmsync.db.session import get_sessionmaker
from crmsync.sandbox.suitecrm import SuiteCrmSandboxServer
from crmsync.settings import Settings


def test_suitecrm_cycle_on_each_backend(
    app_env: dict[str, str],
    db_url: str,
    suite: SuiteCrmSandboxServer,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    create_schema(db_url)
    sf = get_sessionmaker(db_url)
    world = make_world(sf, None, {})  # type: ignore[arg-type]
    as_suitecrm(sf, world, suite.base_url)
    env = SuiteWorld(world, suite, settings)

    ana = world.add_cliente(nome="Ana Lima", email="ana@x.com", cpf="52998224725")
    suite.panel_create("Contacts", {"first_name": "Beto", "last_name": "Reis", "email1": "beto@x.com"})
    assert env.engine().sync(["cliente"]).success
    assert sorted(r.email for r in world.rows(Cliente)) == ["ana@x.com", "beto@x.com"]

    world.edit(Cliente, ana, tipo_pessoa="PJ", cnpj="11222333000181", nome="Ana Lima ME")
    assert env.engine().sync(["cliente"]).success
    assert world.link_of("cliente", ana).external_id.startswith("Accounts:")  # type: ignore[union-attr]
    assert [a["cnpj_c"] for a in suite.store.list_all("Accounts")] == ["11.222.333/0001-81"]

    beto = next(r for r in world.rows(Cliente) if r.email == "beto@x.com")
    module, _, bean = world.link_of("cliente", beto.id).external_id.partition(":")  # type: ignore[union-attr]
    suite.panel_delete(module, bean)
    monkeypatch.setattr(engine_pull, "ID_SCAN_SECONDS", 0)
    poll = env.engine().pull("cliente")
    assert poll.success and poll.total_excluidos == 1
    assert world.get(Cliente, beto.id).deletado_em is not None

    before = env.writes()
    assert env.engine().sync(["cliente"]).success
    assert env.writes() == before
