"""#12 on #11's engine: the engine writes our own tables through the default schema map
(crmsync.erp.table), so the database-held unique keys (`chave_*`) must be kept by those
rows too, and the staged push's "did the row move" check is the engine's one before-write
guard. On SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import sys
from pathlib import Path

from sqlalchemy import select

from crmsync.db.local import Cliente
from crmsync.db.schema import upgrade
from crmsync.db.session import get_sessionmaker
from crmsync.providers.memory import MemoryProvider

sys.path.insert(0, str(Path(__file__).parents[1] / "engine"))
from engine_world import make_world

from .test_staged_push import edit_during_the_crm_write_is_merged


def test_engine_writes_keep_the_unique_keys(app_env: dict[str, str], db_url: str) -> None:
    upgrade(db_url)
    provider = MemoryProvider()
    world = make_world(get_sessionmaker(db_url), provider)
    ext = provider.panel_create("cliente", {"nome": "Ana Souza", "email": "Ana@Exemplo.com"})
    first = world.engine().pull("cliente")
    assert first.success and first.total_criados == 1
    with world.sf() as s:
        row = s.scalar(select(Cliente).where(Cliente.id_loja == world.loja_id))
        assert row is not None and row.chave_email == "ana@exemplo.com"  # the bulk insert keyed it
    provider.panel_update("cliente", ext, {"email": "ana.souza@exemplo.com", "cpf": "52998224725"})
    second = world.engine().pull("cliente")
    assert second.success and second.total_atualizados == 1, second.erros
    with world.sf() as s:
        row = s.scalar(select(Cliente).where(Cliente.id_loja == world.loja_id))
        assert row is not None
        # the engine's update of a default-map row recomputed its keys (before_flush)
        assert (row.chave_email, row.chave_cpf) == ("ana.souza@exemplo.com", "52998224725")
    # a second record with the same e-mail in the CRM: the database refuses the local copy,
    # which is one failed item, not a broken run, and nothing is half-written
    provider.panel_create("cliente", {"nome": "Outra Ana", "email": "ANA.SOUZA@exemplo.com"})
    third = world.engine().pull("cliente")
    assert third.total_criados == 0, third
    with world.sf() as s:
        live = s.scalars(select(Cliente).where(Cliente.id_loja == world.loja_id)).all()
    assert [r.chave_email for r in live] == ["ana.souza@exemplo.com"]


def test_row_moved_during_the_crm_write_is_reconciled_again(app_env: dict[str, str], db_url: str) -> None:
    """The guard, given what was read before the CRM call, finds the row moved (on the
    server databases through their own fingerprint, under a row lock) and the push merges
    again: both edits reach the CRM and the link, nothing is left dirty."""
    upgrade(db_url)
    world, cliente = edit_during_the_crm_write_is_merged(db_url)
    with world.sf() as s:
        row = s.get(Cliente, cliente)
        assert row is not None and row.chave_email == "ana@exemplo.com"
