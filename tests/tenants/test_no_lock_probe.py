"""Every CRM call of a venda push, of a pulled venda's references, and of the review
decisions (conflicts, duplicates) is made with no transaction open: a probe in the CRM
tries to take SQLite's write lock without waiting on each call, and finds it free."""

from __future__ import annotations

import sys
from pathlib import Path

from sqlalchemy import select

from crmsync.db.local import Cliente, Produto, Venda
from crmsync.db.session import get_sessionmaker
from crmsync.db.sync import CrmConflito, CrmDuplicata

from .lock_probe import LockProbeCrm

sys.path.insert(0, str(Path(__file__).parents[1] / "engine"))
from engine_world import World, crm_venda, make_world


def _world(sqlite_url: str) -> tuple[World, LockProbeCrm]:
    crm = LockProbeCrm()
    world = make_world(get_sessionmaker(sqlite_url), crm)
    crm.database_path = sqlite_url.removeprefix("sqlite:///")
    return world, crm


def test_venda_push_with_its_dependencies(app_env: dict[str, str], sqlite_url: str) -> None:
    world, crm = _world(sqlite_url)
    cid = world.add_cliente(nome="Comprador", email="comp@x.com")
    pid = world.add_produto(nome="Caneta", codigo="CAN-1")
    vid = world.add_venda(cid, [(pid, "2", "3.50")], codigo="V1")
    first = world.engine().push_one("venda", vid)
    assert first.success and first.operacao == "create", first.message
    world.edit(Cliente, cid, nome="Comprador Silva")  # a changed dependency and a changed venda
    world.edit(Venda, vid, observacoes="entregar à tarde")
    second = world.engine().push_one("venda", vid)
    assert second.success and second.operacao == "update", second.message
    assert crm.panel_get("cliente", world.link_of("cliente", cid).external_id)["nome"] == "Comprador Silva"  # type: ignore[index, union-attr]
    assert crm.panel_get("venda", first.external_id or "")["observacoes"] == "entregar à tarde"  # type: ignore[index]
    assert crm.calls.get("create", 0) == 3 and crm.calls.get("update", 0) >= 2
    assert crm.locked_during == []


def test_pulled_venda_imports_its_references(app_env: dict[str, str], sqlite_url: str) -> None:
    world, crm = _world(sqlite_url)
    world.add_cliente(nome="Cliente Loja", email="ccrm@x.com", telefone="1133334444")
    c = crm.panel_create("cliente", {"nome": "Cliente Loja", "email": "ccrm@x.com", "celular": "11999998888"})
    crm_venda(crm, c)
    result = world.engine().pull("venda")
    assert result.success and result.total_criados == 1, result.erros
    [venda] = world.rows(Venda)
    [cliente] = world.rows(Cliente)  # linked by e-mail to the store's own, not imported twice
    [produto] = world.rows(Produto)
    assert venda.id_cliente == cliente.id and produto.codigo == "MS-1"
    assert crm.calls.get("get", 0) >= 2  # the references were read from the CRM ...
    assert crm.locked_during == []  # ... each with no transaction open


def _conflict_on_nome(world: World, crm: LockProbeCrm, config: dict[str, object]) -> tuple[int, str, int]:
    """(local id, external id, pending conflict id): nome changed on both sides, manual policy."""
    world.set_config(config)
    cid = world.add_cliente(nome="João Silva", email="joao@x.com")
    world.engine().push_one("cliente", cid)
    ext = world.link_of("cliente", cid).external_id  # type: ignore[union-attr]
    world.edit(Cliente, cid, nome="João Silva Santos")
    crm.panel_update("cliente", ext, {"nome": "J. Silva", "cidade": "Recife"})
    world.engine().sync()
    with world.sf() as s:
        [conflito_id] = list(s.scalars(select(CrmConflito.id).where(CrmConflito.status == "pendente")))
    return cid, ext, conflito_id


def test_conflict_decision_writes_the_crm_with_no_transaction_open(app_env: dict[str, str], sqlite_url: str) -> None:
    world, crm = _world(sqlite_url)
    cid, ext, conflito_id = _conflict_on_nome(world, crm, {"estrategia_padrao": "manual"})
    world.edit(Cliente, cid, observacoes="cliente desde 2020")  # another change, waiting to flow
    crm.locked_during.clear()
    answer = world.engine().resolve_conflict(conflito_id, "local", actor="ana@loja")
    assert answer["success"] and answer["valores"] == {"nome": "João Silva Santos"}
    remote = crm.panel_get("cliente", ext)
    assert remote is not None and remote["nome"] == "João Silva Santos"
    assert remote["observacoes"] == "cliente desde 2020"  # the follow-up merge reached the CRM too
    assert world.get(Cliente, cid).cidade == "Recife"
    assert crm.calls.get("update", 0) >= 2 and crm.locked_during == []
    with world.sf() as s:
        assert s.get(CrmConflito, conflito_id).status == "resolvido"  # type: ignore[union-attr]
    assert world.engine().sync().success and crm.locked_during == []


def test_delete_decision_recreates_on_the_crm_with_no_transaction_open(
    app_env: dict[str, str], sqlite_url: str
) -> None:
    world, crm = _world(sqlite_url)
    world.set_config({"entidades": {"cliente": {"delete_local": "conflict"}}})
    cid = world.add_cliente(nome="Lia", email="lia@x.com")
    ext = world.engine().push_one("cliente", cid).external_id or ""
    crm.panel_delete("cliente", ext)
    world.engine().pull_one("cliente", ext)
    with world.sf() as s:
        [conflito_id] = list(s.scalars(select(CrmConflito.id).where(CrmConflito.status == "pendente")))
    crm.locked_during.clear()
    answer = world.engine().resolve_conflict(conflito_id, "local", actor="ana@loja")
    new_ext = world.link_of("cliente", cid).external_id  # type: ignore[union-attr]
    assert answer["success"] and new_ext != ext and crm.panel_get("cliente", new_ext)["nome"] == "Lia"  # type: ignore[index]
    assert crm.locked_during == []
    assert len(crm.panel_list("cliente")) == 1


def test_duplicate_link_merges_into_the_crm_with_no_transaction_open(app_env: dict[str, str], sqlite_url: str) -> None:
    world, crm = _world(sqlite_url)
    cid = world.add_cliente(nome="Maria Aparecida Souza", cidade="Recife")
    ext = crm.panel_create("cliente", {"nome": "Maria Aparecida de Souza", "email": "mas@x.com"})
    world.engine().pull("cliente")
    with world.sf() as s:
        dup = s.scalars(select(CrmDuplicata)).one()
    crm.locked_during.clear()
    world.engine().resolve_duplicate(dup.id, "vincular", actor="rev")
    assert world.link_of("cliente", cid).external_id == ext  # type: ignore[union-attr]
    assert world.get(Cliente, cid).email == "mas@x.com"
    assert crm.panel_get("cliente", ext)["cidade"] == "Recife"  # type: ignore[index]
    assert crm.locked_during == []


def test_settled_conflicts_pass_writes_the_crm_with_no_transaction_open(
    app_env: dict[str, str], sqlite_url: str
) -> None:
    """A conflict held under `manual` that the store's new policy now decides is closed by the
    settled-conflicts pass: the CRM is read and written with no transaction open."""
    world, crm = _world(sqlite_url)
    _cid, ext, conflito_id = _conflict_on_nome(world, crm, {"estrategia_padrao": "manual"})
    world.set_config({"estrategia_padrao": "local_wins"})
    crm.locked_during.clear()
    settled = world.engine().settle_conflicts()
    assert settled["resolvidos"] == 1 and settled["pendentes"] == 0, settled
    remote = crm.panel_get("cliente", ext)
    assert remote is not None and remote["nome"] == "João Silva Santos"
    assert crm.calls.get("get", 0) >= 1 and crm.locked_during == []
    with world.sf() as s:
        assert s.get(CrmConflito, conflito_id).status == "resolvido"  # type: ignore[union-attr]


def test_dry_runs_read_the_crm_with_no_lock_held(app_env: dict[str, str], sqlite_url: str) -> None:
    """A dry run's transaction is rolled back, so it need not take SQLite's write lock up
    front as a real run does; its CRM reads then hold nothing (a preview against a slow CRM
    would otherwise stop every store's writes), and it still writes nothing anywhere.
    (Left: a dry run that applies a merge to a local row, then rolls it back, holds the lock
    from that write on, e.g. a venda whose cliente takes a CRM change, during its produto
    look-ups.)"""
    world, crm = _world(sqlite_url)
    cid = world.add_cliente(nome="Comprador", email="comp@x.com")
    world.add_cliente(nome="Outra", email="outra@x.com")
    world.engine(dry_run=True).push("cliente")
    world.engine().push_one("cliente", cid)
    world.edit(Cliente, cid, nome="Comprador Silva")
    ext = world.link_of("cliente", cid).external_id  # type: ignore[union-attr]
    crm.panel_update("cliente", ext, {"cidade": "Recife"})
    crm.locked_during.clear()
    preview = world.engine(dry_run=True).sync(["cliente"])
    assert preview.success and world.engine(dry_run=True).push_one("cliente", cid).success
    assert crm.calls.get("find_by_keys", 0) >= 1 and crm.calls.get("get", 0) >= 1
    assert crm.panel_get("cliente", ext)["nome"] == "Comprador"  # type: ignore[index]  # nothing written
    assert world.get(Cliente, cid).cidade is None and world.link_of("cliente", cid + 1) is None
    assert crm.locked_during == []
