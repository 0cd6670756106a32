"""Checkpoints, cursors and incremental polls (prior-art complaints 4, 7 and 8)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from engine_world import World
from sqlalchemy import select

from crmsync.db.local import Cliente
from crmsync.db.sync import CrmCursor
from crmsync.providers.base import RetriableError


def _cursor(world: World) -> CrmCursor | None:
    with world.sf() as s:
        return s.scalars(select(CrmCursor).where(CrmCursor.entity_type == "cliente")).first()


def test_failed_run_keeps_cursor_and_resume_rereads_from_checkpoint(world_factory: Callable[..., World]) -> None:
    world = world_factory(page_size=2)
    for i in range(6):
        world.provider.panel_create("cliente", {"nome": f"Pessoa {i}", "email": f"p{i}@x.com"})
    world.provider.fail_next(1, RetriableError, methods={"list_page"}, skip=2)
    failed = world.engine().pull("cliente")
    assert not failed.success and failed.paginas == 2 and failed.total_criados == 4
    cursor = _cursor(world)
    assert cursor is not None and cursor.ultima_execucao_completa is None and cursor.cursor is None
    assert cursor.checkpoint and cursor.checkpoint["page"] == 2
    calls = world.provider.calls["list_page"]
    resumed = world.engine().pull("cliente")
    assert resumed.success and resumed.total_criados == 2 and resumed.paginas == 1
    assert world.provider.calls["list_page"] == calls + 1  # only page 3 was read again
    cursor = _cursor(world)
    assert cursor is not None and cursor.ultima_execucao_completa is not None and cursor.checkpoint is None
    assert len(world.rows(Cliente)) == 6


def test_newest_first_poll_stops_at_watermark_and_keeps_same_second_ties(world_factory: Callable[..., World]) -> None:
    fixed = datetime(2025, 1, 14, 10, 0, 0, tzinfo=UTC)
    world = world_factory(page_size=2, sort_by_modification=True, clock=lambda: fixed)
    for i in range(10):
        world.provider.panel_create("cliente", {"nome": f"Pessoa {i}", "email": f"p{i}@x.com"})
    first = world.engine().pull("cliente")
    assert first.success and first.total_criados == 10 and first.paginas == 5
    # A record changed in the very same second as the watermark: a strict ">" would lose it.
    ext = sorted(world.provider.panel_list("cliente"))[0]
    world.provider.panel_update("cliente", ext, {"cidade": "Olinda"})
    second = world.engine().pull("cliente")
    assert second.success and second.total_atualizados == 1
    assert [r.cidade for r in world.rows(Cliente) if r.cidade] == ["Olinda"]


def test_steady_state_poll_reads_one_page(world_factory: Callable[..., World]) -> None:
    now = [datetime(2025, 1, 14, 8, 0, 0, tzinfo=UTC)]
    world = world_factory(page_size=2, sort_by_modification=True, clock=lambda: now[0])
    for i in range(10):
        now[0] += timedelta(minutes=10)
        world.provider.panel_create("cliente", {"nome": f"Pessoa {i}", "email": f"p{i}@x.com"})
    world.engine().pull("cliente")
    before = dict(world.provider.calls)
    result = world.engine().pull("cliente")
    assert result.success and result.total_criados == 0 and result.total_atualizados == 0
    assert world.provider.calls["list_page"] - before["list_page"] == 1
    assert world.provider.write_calls == 0


def test_failed_item_does_not_move_watermark_past_it(world_factory: Callable[..., World]) -> None:
    world = world_factory(sort_by_modification=True)
    world.provider.panel_create("cliente", {"nome": "Ok", "email": "ok@x.com"})
    # A venda whose cliente does not exist on the CRM cannot be imported.
    world.provider.panel_create("venda", {"cliente_id": "m424242", "data": "2025-01-14", "itens": []})
    result = world.engine().pull("venda")
    assert not result.success and "cliente externo m424242" in result.erros[0]["erro"]
    with world.sf() as s:
        cursor = s.scalars(select(CrmCursor).where(CrmCursor.entity_type == "venda")).one()
    assert cursor.ultima_execucao_completa is None
