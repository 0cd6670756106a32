"""A page larger than one chunk is applied in several short transactions (a huge page never
holds the database in one), and every record of it still arrives, once, with its keys."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from sqlalchemy import event, func, select

from crmsync.db.local import Cliente
from crmsync.db.session import get_engine, get_sessionmaker
from crmsync.engine.pull import APPLY_CHUNK
from crmsync.providers.memory import MemoryProvider

sys.path.insert(0, str(Path(__file__).parents[1] / "engine"))
from engine_world import make_world


def test_big_page_is_applied_in_chunks(app_env: dict[str, str], sqlite_url: str) -> None:
    size = APPLY_CHUNK * 2 + 17
    provider = MemoryProvider(page_size=size)
    world = make_world(get_sessionmaker(sqlite_url), provider)
    for i in range(size):
        provider.panel_create("cliente", {"nome": f"Pessoa {i}", "email": f"p{i}@exemplo.com"})
    inserting = [False]
    transactions_that_inserted: list[bool] = []

    def on_statement(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO CLIENTES"):
            inserting[0] = True

    def on_commit(_conn: Any) -> None:
        if inserting[0]:
            transactions_that_inserted.append(True)
        inserting[0] = False

    engine = get_engine(sqlite_url)
    event.listen(engine, "before_cursor_execute", on_statement)
    event.listen(engine, "commit", on_commit)
    try:
        result = world.engine().pull("cliente")
    finally:
        event.remove(engine, "before_cursor_execute", on_statement)
        event.remove(engine, "commit", on_commit)
    assert result.success and result.paginas == 1 and result.total_criados == size
    assert len(transactions_that_inserted) == 3  # one page, three chunks
    with world.sf() as s:
        assert s.scalar(select(func.count()).select_from(Cliente)) == size
        keyed = s.scalar(select(func.count()).where(Cliente.chave_email.is_not(None)))
        assert keyed == size  # the bulk insert wrote the unique keys too


def test_pull_meeting_a_key_taken_meanwhile_retries_then_links(app_env: dict[str, str], sqlite_url: str) -> None:
    """A store user creates a cliente while a pull runs, with the e-mail of a record on the
    pull's next page: the unique index refuses the pull's copy, the pull goes on (that item
    failed, kept for retry), and the next run links the record to the user's row."""
    from crmsync.db.session import session_scope
    from crmsync.engine import RunOptions, SyncEngine
    from crmsync.services.local_data import create_record

    provider = MemoryProvider(page_size=2)
    world = make_world(get_sessionmaker(sqlite_url), provider)
    for i in range(4):
        provider.panel_create("cliente", {"nome": f"Pessoa {i}", "email": f"p{i}@exemplo.com"})
    made: list[int] = []

    def user_writes_meanwhile(progress: dict[str, Any]) -> None:
        if progress["pages"] == 1 and not made:
            with session_scope(sqlite_url) as s:
                made.append(create_record(s, world.loja_id, "cliente", {"nome": "P3", "email": "P3@exemplo.com"}).id)

    engine = SyncEngine(world.sf, world.integracao_id, provider=provider, options=RunOptions(trigger="manual"))
    engine.progress = user_writes_meanwhile
    first = engine.pull("cliente")
    assert made and first.total_criados == 3 and len(first.erros) == 1  # the clash is one failed item
    second = world.engine().pull("cliente")
    assert second.success and second.total_vinculados == 1
    with world.sf() as s:
        assert s.scalar(select(func.count()).select_from(Cliente)) == 4  # no duplicate
    link = world.link_of("cliente", made[0])
    assert link is not None
