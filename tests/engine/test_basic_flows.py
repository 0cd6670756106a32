"""Spec cases 7.1, 7.2 and 7.4, and the no-echo rule, with the in-memory provider."""

from __future__ import annotations

from engine_world import World
from sqlalchemy import select

from crmsync.db.local import Cliente
from crmsync.db.sync import CrmEntityLink, CrmSyncLog


def test_case_7_1_created_locally_is_pushed_and_linked(world: World) -> None:
    cid = world.add_cliente(nome="Maria Santos", email="maria@email.com")
    result = world.engine().push_one("cliente", cid)
    assert result.success and result.operacao == "create" and result.external_id
    remote = world.provider.panel_get("cliente", result.external_id)
    assert remote is not None and remote["nome"] == "Maria Santos" and remote["email"] == "maria@email.com"
    link = world.link_of("cliente", cid)
    assert link is not None and link.external_id == result.external_id
    with world.sf() as s:
        logs = list(s.scalars(select(CrmSyncLog).where(CrmSyncLog.operacao == "create")))
    assert len(logs) == 1 and logs[0].status == "sucesso" and logs[0].run_id


def test_case_7_2_created_in_crm_is_imported(world: World) -> None:
    ext = world.provider.panel_create("cliente", {"nome": "Pedro Oliveira", "email": "pedro@x.com"})
    result = world.engine(trigger="cron").pull("cliente")
    assert result.success and result.total_criados == 1 and result.total_processados == 1
    rows = world.rows(Cliente)
    assert [r.nome for r in rows] == ["Pedro Oliveira"]
    link = world.link_of("cliente", rows[0].id)
    assert link is not None and link.external_id == ext


def test_case_7_4_retro_link_by_email_without_duplicate(world: World) -> None:
    cid = world.add_cliente(nome="João Silva", email="joao@email.com")
    ext = world.provider.panel_create(
        "cliente", {"nome": "João S.", "email": "joao@email.com", "telefone": "(11) 3522-8899"}
    )
    result = world.engine().pull("cliente")
    assert result.total_vinculados == 1 and result.total_criados == 0
    assert len(world.rows(Cliente)) == 1
    link = world.link_of("cliente", cid)
    assert link is not None and link.external_id == ext
    # A filled value never gets erased: the phone only the CRM had arrives locally.
    assert world.get(Cliente, cid).telefone == "+551135228899"


def test_second_sync_makes_zero_writes(world: World) -> None:
    """Prior-art complaint 1 (echo loops)."""
    world.add_cliente(nome="Ana", email="ana@x.com")
    world.provider.panel_create("cliente", {"nome": "Bruno", "email": "bruno@x.com"})
    first = world.engine().sync()
    assert first.success
    writes = world.provider.write_calls
    with world.sf() as s:
        versions = {link.id: (link.remote_version, link.local_hash) for link in s.scalars(select(CrmEntityLink))}
    local_before = {r.id: r.modificado_em for r in world.rows(Cliente)}
    second = world.engine().sync()
    assert second.success
    assert world.provider.write_calls == writes
    assert {r.id: r.modificado_em for r in world.rows(Cliente)} == local_before
    with world.sf() as s:
        assert {
            link.id: (link.remote_version, link.local_hash) for link in s.scalars(select(CrmEntityLink))
        } == versions
    assert second.para_crm["total"] == 0
    assert second.do_crm["total_criados"] == 0 and second.do_crm["total_atualizados"] == 0


def test_one_sided_edits_flow_both_ways(world: World) -> None:
    cid = world.add_cliente(nome="Carla", email="carla@x.com")
    world.engine().sync()
    ext = world.link_of("cliente", cid).external_id  # type: ignore[union-attr]
    world.edit(Cliente, cid, cidade="Campinas")
    world.provider.panel_update("cliente", ext, {"telefone": "11 99876-5432"})
    result = world.engine().sync()
    assert result.success
    assert world.provider.panel_get("cliente", ext)["cidade"] == "Campinas"  # type: ignore[index]
    assert world.get(Cliente, cid).telefone == "+5511998765432"
    assert world.engine().sync().para_crm["total"] == 0
