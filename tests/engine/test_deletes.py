"""Deletes both ways with every policy, and the mass-delete circuit breaker."""

from __future__ import annotations

from collections.abc import Callable

from engine_world import World
from sqlalchemy import select

from crmsync.db.local import Cliente
from crmsync.db.sync import CrmConflito
from crmsync.db.types import utcnow
from crmsync.engine.results import PullResult
from crmsync.providers.base import RetriableError


def _linked(world: World, n: int) -> list[tuple[int, str]]:
    ids = [world.add_cliente(nome=f"Cliente {i}", email=f"c{i}@x.com") for i in range(n)]
    assert world.engine().sync().success
    out = []
    for cid in ids:
        link = world.link_of("cliente", cid)
        assert link is not None
        out.append((cid, link.external_id))
    return out


def test_local_delete_deactivates_remote_by_default(world: World) -> None:
    [(cid, ext)] = _linked(world, 1)
    world.edit(Cliente, cid, deletado_em=utcnow())
    result = world.engine().sync()
    assert result.success
    assert world.provider.panel_get("cliente", ext)["ativo"] is False  # type: ignore[index]
    writes = world.provider.write_calls
    world.engine().sync()
    assert world.provider.write_calls == writes  # propagated once, not again


def test_local_delete_with_delete_policy_removes_remote(world_factory: Callable[..., World]) -> None:
    world = world_factory({"entidades": {"cliente": {"delete_remoto": "delete"}}})
    [(cid, ext)] = _linked(world, 1)
    world.edit(Cliente, cid, deletado_em=utcnow())
    world.engine().sync()
    assert world.provider.panel_get("cliente", ext) is None
    # The next full scan does not bring it back nor treat it as a new delete.
    result = world.engine().pull("cliente", full=True)
    assert result.success and result.total_criados == 0


def test_local_delete_ignore_and_conflict_policies(world_factory: Callable[..., World]) -> None:
    world = world_factory({"entidades": {"cliente": {"delete_remoto": "conflict"}}})
    [(cid, ext), (cid2, ext2)] = _linked(world, 2)
    world.edit(Cliente, cid, deletado_em=utcnow())
    world.engine().sync()
    assert world.provider.panel_get("cliente", ext)["ativo"] is True  # type: ignore[index]
    with world.sf() as s:
        conflict = s.scalars(select(CrmConflito).where(CrmConflito.status == "pendente")).one()
    assert "_excluido" in conflict.campos
    world.engine().resolve_conflict(conflict.id, "externo", actor="gerente")
    assert world.get(Cliente, cid).deletado_em is None  # restored locally
    world.set_config({"entidades": {"cliente": {"delete_remoto": "ignore"}}})
    world.edit(Cliente, cid2, deletado_em=utcnow())
    world.engine().sync()
    assert world.provider.panel_get("cliente", ext2)["ativo"] is True  # type: ignore[index]


def test_remote_delete_found_by_full_listing_soft_deletes_locally(world: World) -> None:
    """Prior-art complaint 3 (deletes that never propagate)."""
    pairs = _linked(world, 5)
    cid, ext = pairs[2]
    world.provider.panel_delete("cliente", ext)
    result = world.engine().pull("cliente")
    assert result.success and result.total_excluidos == 1
    assert world.get(Cliente, cid).deletado_em is not None
    assert all(world.get(Cliente, c).deletado_em is None for c, _ in pairs if c != cid)
    # Pushing afterwards does not recreate it on the CRM.
    world.engine().sync()
    assert world.provider.panel_get("cliente", ext) is None


def test_remote_delete_found_on_push_get(world: World) -> None:
    [(cid, ext)] = _linked(world, 1)
    world.provider.panel_delete("cliente", ext)
    world.edit(Cliente, cid, cidade="Natal")
    result = world.engine().push("cliente")
    assert result.success and world.get(Cliente, cid).deletado_em is not None
    assert not world.provider.panel_list("cliente")


def test_remote_delete_ignore_policy_keeps_local(world_factory: Callable[..., World]) -> None:
    world = world_factory({"entidades": {"cliente": {"delete_local": "ignore"}}})
    [(cid, ext)] = _linked(world, 1)
    world.provider.panel_delete("cliente", ext)
    world.engine().sync()
    assert world.get(Cliente, cid).deletado_em is None
    assert world.provider.panel_get("cliente", ext) is None


def test_mass_delete_is_stopped_before_deleting_anything(world: World) -> None:
    """Prior-art complaint 9: 6 of 10 records missing from a listing is not believable."""
    pairs = _linked(world, 10)
    for _cid, ext in pairs[:6]:
        world.provider.panel_delete("cliente", ext)
    result = world.engine().pull("cliente")
    assert not result.success and result.total_excluidos == 0
    assert result.message and "exclusão em massa bloqueada" in result.message
    assert all(world.get(Cliente, cid).deletado_em is None for cid, _ in pairs)
    world.set_config({"limite_exclusao_em_massa": 1.0})
    result = world.engine().pull("cliente")
    assert result.success and result.total_excluidos == 6


def test_local_mass_delete_is_stopped_too(world: World) -> None:
    pairs = _linked(world, 10)
    for cid, _ext in pairs[:5]:
        world.edit(Cliente, cid, deletado_em=utcnow())
    summary = world.engine().push("cliente")
    assert not summary.success and "exclusão em massa" in (summary.itens[0].message or "")
    assert all(world.provider.panel_get("cliente", ext)["ativo"] for _c, ext in pairs)  # type: ignore[index]


def test_incomplete_listing_infers_no_delete(world_factory: Callable[..., World]) -> None:
    world = world_factory(page_size=2)
    pairs = _linked(world, 5)
    world.provider.fail_next(1, RetriableError, methods={"list_page"}, skip=1)
    result: PullResult = world.engine().pull("cliente")
    assert not result.success and result.total_excluidos == 0
    assert all(world.get(Cliente, cid).deletado_em is None for cid, _ in pairs)
