"""A create carries its intent (#18 item 3): a create whose answer was lost, then an edit in
the store before crmsync learns what became of the create, reaches the CRM with no
conflict and no second record, whichever side finds the record first."""

from __future__ import annotations

from engine_world import World
from sqlalchemy import select

from crmsync.db.local import Cliente
from crmsync.db.sync import CrmConflito, CrmCriacaoPendente, CrmSyncLog
from crmsync.providers.base import RetriableError, ValidationError


def _lose_create(world: World, **fields: str) -> int:
    cid = world.add_cliente(**fields)
    world.provider.fail_next(1, RetriableError, methods={"create"}, after=True)
    first = world.engine().push("cliente")
    assert not first.success, "the create's answer should have been lost"
    assert len(world.provider.panel_list("cliente")) == 1, "...after the CRM created the record"
    with world.sf() as s:
        assert s.scalars(select(CrmCriacaoPendente)).one().entity_id == cid
    return cid


def _no_conflict_and_no_intent(world: World) -> None:
    with world.sf() as s:
        assert not list(s.scalars(select(CrmConflito))), "a false conflict"
        assert not list(s.scalars(select(CrmCriacaoPendente))), "the intent outlived its link"


def test_lost_create_answer_then_local_edit_reaches_the_crm(world: World) -> None:
    cid = _lose_create(world, nome="Rita", email="rita@x.com")
    world.edit(Cliente, cid, nome="Rita Lee")
    second = world.engine().push("cliente")
    assert second.success, second.as_dict()
    records = world.provider.panel_list("cliente")
    assert [r["nome"] for r in records.values()] == ["Rita Lee"]  # the edit, one record
    link = world.link_of("cliente", cid)
    assert link is not None and link.status == "sincronizado" and link.external_id in records
    _no_conflict_and_no_intent(world)
    with world.sf() as s:
        messages = [m for m in s.scalars(select(CrmSyncLog.mensagem).where(CrmSyncLog.operacao == "link")) if m]
    assert any("criado por esta integração" in m for m in messages), messages


def test_lost_create_answer_found_first_by_a_pull(world: World) -> None:
    """The pull meets the record before the push retries: it links it the same way."""
    cid = _lose_create(world, nome="Beto", email="beto@x.com", cidade="Natal")
    world.edit(Cliente, cid, nome="Roberto")
    result = world.engine().sync()
    assert result.success, result.as_dict()
    assert [r["nome"] for r in world.provider.panel_list("cliente").values()] == ["Roberto"]
    assert world.get(Cliente, cid).nome == "Roberto"
    _no_conflict_and_no_intent(world)


def test_crm_edit_of_another_field_meanwhile_flows_both_ways(world: World) -> None:
    cid = _lose_create(world, nome="Ana", email="ana@x.com", cidade="Natal")
    ext = next(iter(world.provider.panel_list("cliente")))
    world.provider.panel_update("cliente", ext, {"cidade": "Recife"})
    world.edit(Cliente, cid, nome="Ana Maria")
    assert world.engine().sync().success
    remote = world.provider.panel_get("cliente", ext)
    assert remote is not None and remote["nome"] == "Ana Maria" and remote["cidade"] == "Recife"
    row = world.get(Cliente, cid)
    assert row.nome == "Ana Maria" and row.cidade == "Recife"
    _no_conflict_and_no_intent(world)


def test_same_field_changed_on_both_sides_is_still_a_conflict(world: World) -> None:
    world.set_config({"estrategia_padrao": "manual"})
    cid = _lose_create(world, nome="Caio", email="caio@x.com")
    ext = next(iter(world.provider.panel_list("cliente")))
    world.provider.panel_update("cliente", ext, {"nome": "Caio (CRM)"})
    world.edit(Cliente, cid, nome="Caio (loja)")
    world.engine().push("cliente")
    with world.sf() as s:
        conflict = s.scalars(select(CrmConflito)).one()
    assert set(conflict.campos) == {"nome"}
    assert len(world.provider.panel_list("cliente")) == 1


def test_a_refused_create_leaves_no_intent(world: World) -> None:
    world.add_cliente(nome="Recusado", email="r@x.com")
    world.provider.fail_next(1, ValidationError, methods={"create"})
    assert not world.engine().push("cliente").success
    with world.sf() as s:
        assert not list(s.scalars(select(CrmCriacaoPendente)))
