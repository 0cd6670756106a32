"""A conflict decision calls the CRM with no transaction open: with store A's CRM hung while
a person resolves one of A's conflicts, store B's writes go through (SQLite: one write lock
for the whole file; PostgreSQL: the same test)."""

from __future__ import annotations

from crmsync.db.session import session_scope
from crmsync.db.sync import CrmConflito
from crmsync.engine.links import Binder
from crmsync.services.local_data import create_record

from .conftest import valid_cpf
from .hung_world import HungWorld, b_writes_while_a_waits, engine_of_a, on_sqlite_and_postgresql


@on_sqlite_and_postgresql
def test_hung_crm_during_a_conflict_decision_does_not_block_another_store(hung_world: HungWorld) -> None:
    loja_a, integ_id = hung_world.stores.loja_a, hung_world.stores.integ_id
    with session_scope() as s:
        cliente = create_record(s, loja_a, "cliente", {"nome": "João Silva Santos", "cpf": valid_cpf(100200300)})
        link = Binder(id_loja=loja_a, id_integracao=integ_id, provider="gestao_click").new_link(
            "cliente",
            cliente.id,
            "55",
            base={"nome": "João Silva"},
            local_hash=None,
            remote_version=None,
            remote_modified_at=None,
        )
        link.status = "conflito"
        s.add(link)
        conflict = CrmConflito(
            id_loja=loja_a,
            id_integracao=integ_id,
            entity_type="cliente",
            entity_id=cliente.id,
            external_id="55",
            campos={"nome": {"base": "João Silva", "local": "João Silva Santos", "externo": "J. Silva"}},
            dados_local={"nome": "João Silva Santos"},
            dados_externo={"nome": "J. Silva"},
            status="pendente",
        )
        s.add(conflict)
        s.flush()
        conflito_id = conflict.id
    with engine_of_a(hung_world.stores) as engine:
        outcome = b_writes_while_a_waits(hung_world, lambda: engine.resolve_conflict(conflito_id, "local", actor="ana"))
    assert isinstance(outcome, Exception)  # the CRM failed: the decision did not happen ...
    with session_scope() as s:
        stored = s.get(CrmConflito, conflito_id)
        assert stored is not None and stored.status == "pendente"  # ... and the conflict still waits
