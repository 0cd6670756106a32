"""Verified writes (#17 item 1), against both providers over real HTTP: a CRM that answers an
update with success but does not store a field (the sandboxes' ``ignore_on_update``, as
SuiteCRM 7.14 does with ``email1``) makes the item fail with a Portuguese message naming the
field, logs no success, and never lets the CRM's old value come back over the store's."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from engine_world import World, make_world
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from crmsync.config import parse_config
from crmsync.db.local import Cliente
from crmsync.db.sync import CrmIntegracao, CrmItemFalho, CrmSyncLog
from crmsync.engine import RunOptions, SyncEngine
from crmsync.providers.gestaoclick import GestaoClickProvider
from crmsync.providers.suitecrm import SuiteCrmProvider
from crmsync.providers.suitecrm.auth import forget_all_tokens
from crmsync.sandbox import SandboxServer
from crmsync.sandbox.suitecrm import SuiteCrmSandboxServer
from crmsync.settings import Settings

GC_CREDS = {"access_token": "sandbox-access-token", "secret_access_token": "sandbox-secret-token"}


class Crm:
    """One provider's sandbox behind a world: how to open the engine and act in the CRM."""

    def __init__(
        self,
        world: World,
        name: str,
        open_provider: Callable[[], Any],
        ignore: Callable[[frozenset[str]], None],
        remote: Callable[[str], dict[str, Any]],
        edit: Callable[[str, str], None],
    ) -> None:
        self.world = world
        self.name = name
        self.open_provider = open_provider
        self.ignore = ignore
        self.remote = remote  # external id -> {"nome": ..., "email": ...}
        self.edit_nome = edit

    def engine(self) -> SyncEngine:
        return SyncEngine(
            self.world.sf,
            self.world.integracao_id,
            provider=self.open_provider(),
            options=RunOptions(trigger="manual", actor="teste"),
        )


@pytest.fixture(params=["gestao_click", "suitecrm"])
def crm(request: pytest.FixtureRequest, sf: sessionmaker[Session], tmp_path: Path) -> Iterator[Crm]:
    world = make_world(sf, None, {})  # type: ignore[arg-type]
    if request.param == "gestao_click":
        with SandboxServer(rate_limit=0, daily_quota=0, seed=11) as sb:

            def gc_provider() -> GestaoClickProvider:
                return GestaoClickProvider(
                    sb.base_url,
                    credentials=GC_CREDS,
                    config=parse_config({}),
                    rate_limit_per_second=None,
                    daily_quota=None,
                    create_settle_seconds=0,
                )

            def gc_ignore(names: frozenset[str]) -> None:
                sb.store.ignore_on_update = names

            def gc_remote(ext: str) -> dict[str, Any]:
                rec = next(r for r in sb.panel_list("clientes") if str(r["id"]) == ext)
                return {"nome": rec.get("nome"), "email": rec.get("email")}

            def gc_edit(ext: str, nome: str) -> None:
                sb.panel_update("clientes", ext, {"nome": nome})

            yield Crm(world, "GestãoClick", gc_provider, gc_ignore, gc_remote, gc_edit)
        return
    forget_all_tokens()
    settings = Settings(data_dir=tmp_path)
    with SuiteCrmSandboxServer(seed=5) as suite:
        with sf() as s, s.begin():
            integ = s.get(CrmIntegracao, world.integracao_id)
            assert integ is not None
            integ.provider, integ.base_url = "suitecrm", suite.base_url

        def sc_provider() -> SuiteCrmProvider:
            return SuiteCrmProvider(
                suite.base_url,
                credentials={"client_id": suite.client_id, "client_secret": suite.client_secret},
                config=parse_config({}),
                settings=settings,
                rate_limit_per_second=None,
            )

        def sc_ignore(names: frozenset[str]) -> None:
            suite.store.ignore_on_update = frozenset({"email1"} if "email" in names else set())

        def sc_remote(ext: str) -> dict[str, Any]:
            module, _, bean = ext.partition(":")
            rec = suite.store.get(module, bean)
            return {"nome": rec.get("name"), "email": rec.get("email1")}

        def sc_edit(ext: str, nome: str) -> None:
            module, _, bean = ext.partition(":")
            first, _, last = nome.partition(" ")
            suite.store.update(module, bean, {"first_name": first, "last_name": last})

        yield Crm(world, "SuiteCRM", sc_provider, sc_ignore, sc_remote, sc_edit)
    forget_all_tokens()


def _push(crm: Crm, cid: int) -> Any:
    engine = crm.engine()
    try:
        return engine.push_one("cliente", cid)
    finally:
        engine.close()


def test_a_field_the_crm_does_not_store_is_reported_and_never_overwritten(crm: Crm) -> None:
    w = crm.world
    cid = w.add_cliente(nome="Carla Dias", email="antigo@x.com", tipo_pessoa="PF")
    created = _push(crm, cid)
    assert created.success and created.operacao == "create", created.as_dict()
    ext = str(created.external_id)

    crm.ignore(frozenset({"email"}))
    w.edit(Cliente, cid, email="novo@x.com", cidade="Natal")
    partial = _push(crm, cid)
    assert not partial.success, partial.as_dict()
    assert partial.message == f"o {crm.name} não gravou email (continua antigo@x.com)", partial.message
    assert crm.remote(ext)["email"] == "antigo@x.com"
    with w.sf() as s:
        item = s.scalars(select(CrmItemFalho).where(CrmItemFalho.entity_id == cid)).one()
        assert item.status == "pendente" and "não gravou email" in (item.ultimo_erro or "")
        log = s.scalars(select(CrmSyncLog).where(CrmSyncLog.entity_id == cid, CrmSyncLog.operacao == "update")).all()[
            -1
        ]
        assert log.status == "erro" and "gravação parcial" in (log.mensagem or ""), (log.status, log.mensagem)

    # Something else changes in the CRM: its unchanged old e-mail never comes back.
    crm.edit_nome(ext, "Carla Souza")
    engine = crm.engine()
    try:
        engine.pull("cliente", full=True)
    finally:
        engine.close()
    row = w.get(Cliente, cid)
    assert row.email == "novo@x.com" and row.nome == "Carla Souza"

    # Once the CRM stores it again, the retry delivers the e-mail and the item is resolved.
    crm.ignore(frozenset())
    done = _push(crm, cid)
    assert done.success, done.as_dict()
    assert crm.remote(ext)["email"] == "novo@x.com"
    with w.sf() as s:
        assert s.scalars(select(CrmItemFalho).where(CrmItemFalho.entity_id == cid)).one().status == "resolvido"
