"""One store syncing with GestãoClick and SuiteCRM at once, each integration with its own
links: a customer known to both CRMs stays one local row, and what one CRM brings in reaches
the other."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from suite_world import SuiteWorld

from crmsync.crypto import encrypt_json
from crmsync.db.local import Cliente
from crmsync.db.sync import CrmEntityLink, CrmIntegracao
from crmsync.engine import RunOptions, SyncEngine
from crmsync.providers.gestaoclick import GestaoClickProvider
from crmsync.sandbox.server import SandboxServer

GC_CREDS = {"access_token": "sandbox-access-token", "secret_access_token": "sandbox-secret-token"}


@pytest.fixture
def gc() -> Iterator[SandboxServer]:
    with SandboxServer(rate_limit=0, daily_quota=0, fault_rate=0.0, seed=0) as sb:
        yield sb


def _add_gc_integration(sf: sessionmaker[Session], loja_id: int, base_url: str) -> int:
    with sf() as s, s.begin():
        integ = CrmIntegracao(
            id_loja=loja_id,
            provider="gestao_click",
            ativo=True,
            base_url=base_url,
            credenciais=encrypt_json(GC_CREDS),
            credenciais_hash=f"gc{loja_id}",
            config={},
            webhook_token=f"gctok{loja_id}",
        )
        s.add(integ)
        s.flush()
        return int(integ.id)


def test_a_store_syncs_with_both_providers_at_once(suite_world: SuiteWorld, gc: SandboxServer) -> None:
    env, w, suite = suite_world, suite_world.world, suite_world.sb
    gc_integ = _add_gc_integration(w.sf, w.loja_id, gc.base_url)

    def gc_engine() -> SyncEngine:
        provider = GestaoClickProvider(
            gc.base_url, credentials=GC_CREDS, rate_limit_per_second=None, daily_quota=None, create_settle_seconds=0
        )
        return SyncEngine(w.sf, gc_integ, provider=provider, options=RunOptions(trigger="manual", actor="e2e"))

    # Ana is in the ERP and in both CRMs (same e-mail): one row, linked twice.
    ana = w.add_cliente(nome="Ana Souza", email="ana@x.com", cpf="52998224725")
    gc.panel_create("clientes", {"nome": "Ana Souza", "tipo_pessoa": "PF", "email": "ana@x.com"})
    suite.panel_create("Contacts", {"first_name": "Ana", "last_name": "Souza", "email1": "ana@x.com"})
    # Bruno exists only in SuiteCRM; Carla only in GestãoClick.
    suite.panel_create("Contacts", {"first_name": "Bruno", "last_name": "Reis", "email1": "bruno@x.com"})
    gc.panel_create("clientes", {"nome": "Carla Dias", "tipo_pessoa": "PF", "email": "carla@x.com"})

    for _ in range(2):  # the second round carries what each CRM brought in to the other
        assert env.engine().sync(["cliente"]).success
        assert gc_engine().sync(["cliente"]).success

    rows = w.rows(Cliente)
    assert sorted(r.email for r in rows) == ["ana@x.com", "bruno@x.com", "carla@x.com"]
    with w.sf() as s:
        links = list(s.scalars(select(CrmEntityLink).where(CrmEntityLink.entity_id == ana)))
    assert sorted(link.provider for link in links) == ["gestao_click", "suitecrm"]
    assert sorted(r["email"] for r in gc.panel_list("clientes")) == ["ana@x.com", "bruno@x.com", "carla@x.com"]
    assert sorted(r["email1"] for r in suite.store.list_all("Contacts")) == ["ana@x.com", "bruno@x.com", "carla@x.com"]

    # An edit in the ERP reaches both; a settled store then writes nothing anywhere.
    w.edit(Cliente, ana, telefone="(11) 3522-8899")
    assert env.engine().sync(["cliente"]).success and gc_engine().sync(["cliente"]).success
    module_id = next(link.external_id for link in links if link.provider == "suitecrm").split(":", 1)[1]
    assert suite.panel_get("Contacts", module_id)["phone_work"]
    gc_id = next(link.external_id for link in links if link.provider == "gestao_click")
    assert gc.panel_get("clientes", gc_id)["telefone"] == "(11) 3522-8899"
    before = env.writes() + sum(1 for r in gc.requests() if r.get("method") in ("POST", "PUT", "DELETE"))
    assert env.engine().sync(["cliente"]).success and gc_engine().sync(["cliente"]).success
    after = env.writes() + sum(1 for r in gc.requests() if r.get("method") in ("POST", "PUT", "DELETE"))
    assert after == before
