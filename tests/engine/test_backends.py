"""The engine on every supported database (SQLite, PostgreSQL, MariaDB): the sync cycle,
bulk creates, a conflict and its resolution."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from engine_world import make_world

from crmsync.db.local import Cliente
from crmsync.db.schema import create_schema
from crmsync.db.session import get_sessionmaker
from crmsync.providers.memory import MemoryProvider


def test_sync_cycle_on_each_backend(app_env: dict[str, str], db_url: str) -> None:
    create_schema(db_url)
    sf = get_sessionmaker(db_url)
    provider = MemoryProvider(page_size=7)
    world = make_world(sf, provider, {"estrategia_padrao": "manual"})
    local_ids = [world.add_cliente(nome=f"Local {i}", email=f"l{i}@x.com") for i in range(5)]
    for i in range(20):
        provider.panel_create("cliente", {"nome": f"Remoto {i}", "email": f"r{i}@x.com"})
    first = world.engine().sync()
    assert first.success, first.as_dict()
    assert len(world.rows(Cliente)) == 25 and len(provider.panel_list("cliente")) == 25
    ext = world.link_of("cliente", local_ids[0]).external_id  # type: ignore[union-attr]
    world.edit(Cliente, local_ids[0], nome="Nome A")
    provider.panel_update("cliente", ext, {"nome": "Nome B"})
    world.engine().sync()
    from sqlalchemy import select

    from crmsync.db.sync import CrmConflito

    with sf() as s:
        conflict = s.scalars(select(CrmConflito).where(CrmConflito.status == "pendente")).one()
    world.engine().resolve_conflict(conflict.id, "externo", actor="x")
    assert world.get(Cliente, local_ids[0]).nome == "Nome B"
    writes = provider.write_calls
    assert world.engine().sync().success and provider.write_calls == writes
    # A record deleted in the CRM is inferred from a complete listing (links created before
    # the run, compared in SQL on each database) and soft-deleted here.
    gone = world.link_of("cliente", local_ids[1]).external_id  # type: ignore[union-attr]
    provider.panel_delete("cliente", gone)
    pulled = world.engine().pull("cliente", full=True)
    assert pulled.success and pulled.total_excluidos == 1, pulled.as_dict()
    assert world.get(Cliente, local_ids[1]).deletado_em is not None


def test_create_intent_is_one_upsert_on_each_backend(app_env: dict[str, str], db_url: str) -> None:
    """A create's intent recorded again (a retried create) replaces the first, in one
    statement (the dialect's upsert), and is removed once taken; another row's is its own."""
    from sqlalchemy import event, select

    from crmsync.db.sync import CrmCriacaoPendente
    from crmsync.engine.intents import CreateIntents
    from crmsync.services.integracoes import create_integracao
    from crmsync.services.lojas import create_loja

    create_schema(db_url)
    sf = get_sessionmaker(db_url)
    with sf() as s:
        loja, _key = create_loja(s, "Loja Intenções")
        integ = create_integracao(
            s,
            loja_id=loja.id,
            provider="gestao_click",
            base_url="http://127.0.0.1:9",
            access_token="a",
            secret_access_token="s",
        )
        intents = CreateIntents(id_loja=loja.id, id_integracao=integ.id, provider="gestao_click")
    with sf() as s, s.begin():
        intents.record(s, "cliente", 7, {"nome": "Primeiro", "email": "p@x.com"})
        intents.record(s, "cliente", 8, {"nome": "Outro"})
    sent: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        sent.append(statement)

    engine = sf.kw["bind"]
    event.listen(engine, "before_cursor_execute", seen)
    try:
        with sf() as s, s.begin():
            intents.record(s, "cliente", 7, {"nome": "Segundo"})
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert [q.split()[0].upper() for q in sent] == ["INSERT"], sent
    with sf() as s, s.begin():
        assert intents.get(s, "cliente", 7) == {"nome": "Segundo"}
        assert len(s.scalars(select(CrmCriacaoPendente)).all()) == 2
        assert intents.take(s, "cliente", 7) == {"nome": "Segundo"}
        assert intents.get(s, "cliente", 7) is None
        assert intents.get(s, "cliente", 8) == {"nome": "Outro"}


class _CrmWithAnotherRun(MemoryProvider):
    """The in-process CRM, with another run linking the row while its create is in flight."""

    during_create: Any = None

    def create(self, entity_type: str, data: Any) -> Any:
        action, self.during_create = self.during_create, None
        created = super().create(entity_type, data)
        if action is not None:
            action()
        return created


def test_create_whose_row_was_linked_meanwhile_on_each_backend(app_env: dict[str, str], db_url: str) -> None:
    """Another run links the row while this push's create is in the CRM: the link insert
    (no savepoint) fails on the unique key, the link is made again the careful way, which
    finds the other run's link; ours, a duplicate, is deleted from the CRM and the row stays
    linked to the other run's record, with one record in the CRM."""
    from crmsync.engine.links import Binder

    create_schema(db_url)
    sf = get_sessionmaker(db_url)
    provider = _CrmWithAnotherRun()
    world = make_world(sf, provider)
    cliente = world.add_cliente(nome="Rita Corrida", email="rita@x.com")
    theirs: list[str] = []

    def another_run_links_it() -> None:
        theirs.append(provider.panel_create("cliente", {"nome": "Rita Corrida", "email": "rita@x.com"}))
        binder = Binder(id_loja=world.loja_id, id_integracao=world.integracao_id, provider="gestao_click")
        with sf() as s, s.begin():
            link = binder.new_link(
                "cliente", cliente, theirs[0], base=None, local_hash=None, remote_version=None, remote_modified_at=None
            )
            binder.create(s, link)

    provider.during_create = another_run_links_it
    result = world.engine().push_one("cliente", cliente)
    assert result.success, result.message
    link = world.link_of("cliente", cliente)
    assert link is not None and link.external_id == theirs[0]
    assert list(provider.panel_list("cliente")) == theirs  # ours was deleted
