"""The engine on every supported database (SQLite, PostgreSQL, MariaDB): the sync cycle,
bulk creates, a conflict and its resolution."""

from __future__ import annotations

import sys
from pathlib import Path

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
