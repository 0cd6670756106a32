"""Conflicts: spec 7.3 with `manual_se_diferente`, last-write-wins with skewed clocks, manual
resolution, no duplicate conflict rows, the settled pass."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml
from engine_world import World
from sqlalchemy import select

from crmsync.db.local import Cliente
from crmsync.db.sync import CrmConflito, CrmSyncLog

SPEC_CONFIG = yaml.safe_load((Path(__file__).parents[2] / "crmsync/examples/spec-config.yaml").read_text())


def _synced_joao(world: World) -> tuple[int, str]:
    cid = world.add_cliente(nome="João Silva", email="joao@email.com")
    assert world.engine().sync().success
    link = world.link_of("cliente", cid)
    assert link is not None
    return cid, link.external_id


def _pending(world: World) -> list[CrmConflito]:
    with world.sf() as s:
        return list(s.scalars(select(CrmConflito).where(CrmConflito.status == "pendente")))


def test_case_7_3_manual_if_different_keeps_both_values_for_review(world: World) -> None:
    world.set_config(SPEC_CONFIG)
    cid, ext = _synced_joao(world)
    # 10:30 user A edits in the ERP; 10:35 user B edits in GestãoClick; 10:40 the cron runs.
    world.edit(Cliente, cid, nome="João Silva Santos", modificado_em=datetime.now(UTC) - timedelta(minutes=5))
    world.provider.panel_update("cliente", ext, {"nome": "J. Silva"})
    result = world.engine(trigger="cron").sync()
    assert result.do_crm["total_conflitos"] + result.para_crm["conflitos"] >= 1
    # Nothing was lost: both sides keep their value until someone decides.
    assert world.get(Cliente, cid).nome == "João Silva Santos"
    assert world.provider.panel_get("cliente", ext)["nome"] == "J. Silva"  # type: ignore[index]
    [conflict] = _pending(world)
    nome = conflict.campos["nome"]
    assert nome["base"] == "João Silva" and nome["local"] == "João Silva Santos"
    assert nome["externo"] == "J. Silva"
    assert nome["local_em"] and nome["externo_em"] and "similarity" in nome["motivo"]
    assert result.conflitos == {"total_conflitos": 1, "resolvidos": 0, "pendentes": 1}
    # Syncing again neither duplicates the conflict nor writes anything.
    writes = world.provider.write_calls
    world.engine().sync()
    assert len(_pending(world)) == 1 and world.provider.write_calls == writes


def test_lww_with_spec_timestamps_is_the_users_choice(world: World) -> None:
    """With plain last_write_wins (the spec's default), the newer CRM edit wins: the spec's
    documented loss happens only when the user picked that strategy."""
    cid, ext = _synced_joao(world)
    world.edit(Cliente, cid, nome="João Silva Santos", modificado_em=datetime.now(UTC) - timedelta(minutes=10))
    world.provider.panel_update("cliente", ext, {"nome": "J. Silva"})
    world.engine().sync()
    assert world.get(Cliente, cid).nome == "J. Silva"
    assert not _pending(world)


def test_lww_close_call_with_skewed_clock_becomes_conflict_not_silent_loss(world: World) -> None:
    """Prior-art complaint 5: the CRM's clock runs 90 s ahead; two edits 30 s apart in real
    time look 2 min apart. Inside the skew tolerance LWW does not guess."""
    cid, ext = _synced_joao(world)
    world.provider.clock_offset = timedelta(seconds=90)
    world.edit(Cliente, cid, nome="João da Silva", modificado_em=datetime.now(UTC))
    world.provider.panel_update("cliente", ext, {"nome": "João Silva Jr"})
    world.engine().sync()
    assert world.get(Cliente, cid).nome == "João da Silva"
    assert world.provider.panel_get("cliente", ext)["nome"] == "João Silva Jr"  # type: ignore[index]
    [conflict] = _pending(world)
    assert "skew" in conflict.campos["nome"]["motivo"]


def test_non_conflicting_fields_still_flow_beside_a_conflict(world: World) -> None:
    world.set_config(SPEC_CONFIG)
    cid, ext = _synced_joao(world)
    world.edit(Cliente, cid, nome="Maria Souza", cidade="Campinas")
    world.provider.panel_update("cliente", ext, {"nome": "Pedro Lima", "bairro": "Centro"})
    world.engine().sync()
    assert world.get(Cliente, cid).bairro == "Centro"
    assert world.provider.panel_get("cliente", ext)["cidade"] == "Campinas"  # type: ignore[index]
    assert len(_pending(world)) == 1


def test_resolve_local_writes_both_sides_and_is_not_raised_again(world: World) -> None:
    world.set_config(SPEC_CONFIG)
    cid, ext = _synced_joao(world)
    world.edit(Cliente, cid, nome="João Silva Santos")
    world.provider.panel_update("cliente", ext, {"nome": "J. Silva"})
    world.engine().sync()
    [conflict] = _pending(world)
    answer = world.engine().resolve_conflict(conflict.id, "local", actor="ana@loja")
    assert answer["success"] and answer["resolvido_por"] == "ana@loja"
    assert world.provider.panel_get("cliente", ext)["nome"] == "João Silva Santos"  # type: ignore[index]
    assert world.get(Cliente, cid).nome == "João Silva Santos"
    with world.sf() as s:
        stored = s.get(CrmConflito, conflict.id)
        assert stored is not None and stored.status == "resolvido" and stored.resolvido_por == "ana@loja"
        log = s.scalars(select(CrmSyncLog).where(CrmSyncLog.operacao == "resolve")).one()
        assert "ana@loja" in (log.mensagem or "")
    writes = world.provider.write_calls
    result = world.engine().sync()
    assert not _pending(world) and world.provider.write_calls == writes and result.success


def test_resolve_merge_chooses_per_field(world: World) -> None:
    world.set_config({"estrategia_padrao": "manual"})
    cid, ext = _synced_joao(world)
    world.edit(Cliente, cid, nome="Nome Local", cidade="Santos")
    world.provider.panel_update("cliente", ext, {"nome": "Nome Externo", "cidade": "Recife"})
    world.engine().sync()
    [conflict] = _pending(world)
    assert set(conflict.campos) == {"nome", "cidade"}
    engine = world.engine()
    try:
        engine.resolve_conflict(conflict.id, "merge", {"nome": "local"})
        raise AssertionError("merge without every field must be refused")
    except ValueError:
        pass
    engine.resolve_conflict(conflict.id, "merge", {"nome": "externo", "cidade": "local"})
    row = world.get(Cliente, cid)
    remote = world.provider.panel_get("cliente", ext)
    assert row.nome == remote["nome"] == "Nome Externo"  # type: ignore[index]
    assert row.cidade == remote["cidade"] == "Santos"  # type: ignore[index]
    try:
        engine.resolve_conflict(conflict.id, "local")
        raise AssertionError("a resolved conflict cannot be resolved again")
    except ValueError:
        pass


def test_settled_pass_closes_conflict_when_sides_converge(world: World) -> None:
    world.set_config(SPEC_CONFIG)
    cid, ext = _synced_joao(world)
    world.edit(Cliente, cid, nome="João Silva Santos")
    world.provider.panel_update("cliente", ext, {"nome": "J. Silva"})
    world.engine().sync()
    assert len(_pending(world)) == 1
    world.edit(Cliente, cid, nome="J. Silva")  # someone fixes it by hand in the ERP
    result = world.engine().sync()
    assert not _pending(world)
    assert result.success
    assert world.engine().sync().para_crm["total"] == 0


def test_settled_pass_applies_a_changed_policy(world: World) -> None:
    world.set_config({"estrategia_padrao": "manual"})
    cid, ext = _synced_joao(world)
    world.edit(Cliente, cid, nome="Local Vence")
    world.provider.panel_update("cliente", ext, {"nome": "Externo"})
    world.engine().sync()
    assert len(_pending(world)) == 1
    world.set_config({"estrategia_padrao": "local_wins"})
    result = world.engine().sync()
    assert result.conflitos["resolvidos"] == 1 and not _pending(world)
    assert world.provider.panel_get("cliente", ext)["nome"] == "Local Vence"  # type: ignore[index]


def test_unknown_conflict_and_bad_choice(world: World) -> None:
    engine = world.engine()
    for args, exc in (((999, "local"), LookupError), ((1, "talvez"), ValueError)):
        try:
            engine.resolve_conflict(*args)  # type: ignore[arg-type]
            raise AssertionError("expected an error")
        except exc:
            pass


def test_conflict_without_base_is_not_settled_by_clearing_one_side(world: World) -> None:
    """Found by the state machine: a conflict raised when linking by e-mail has no base; if
    one side then clears the field, "a filled value fills an empty one" (a rule for the
    moment of linking) must not decide it: it stays for review with both current values."""
    world.set_config({"estrategia_padrao": "manual"})
    cid = world.add_cliente(nome="Ana", email="ana@x.com", cidade="Recife")
    ext = world.provider.panel_create("cliente", {"nome": "Ana", "email": "ana@x.com", "cidade": "Natal"})
    world.engine().sync()
    [conflict] = _pending(world)
    assert conflict.campos["cidade"]["base"] is None
    world.provider.panel_update("cliente", ext, {"cidade": None})
    world.engine().sync()
    [conflict] = _pending(world)
    assert conflict.campos["cidade"]["local"] == "Recife" and conflict.campos["cidade"]["externo"] is None
    assert world.get(Cliente, cid).cidade == "Recife"
    assert world.provider.panel_get("cliente", ext)["cidade"] is None  # type: ignore[index]
    # Other fields still flow, and the base never holds the stand-in value.
    world.edit(Cliente, cid, bairro="Boa Viagem")
    world.engine().sync()
    assert world.provider.panel_get("cliente", ext)["bairro"] == "Boa Viagem"  # type: ignore[index]
    link = world.link_of("cliente", cid)
    assert link is not None and "cidade" not in (link.base_snapshot or {})


def test_resolving_a_conflict_lets_other_pending_changes_flow(world: World) -> None:
    """Found by the state machine: resolving must not mark the rest of the row as synced."""
    world.set_config({"estrategia_padrao": "manual"})
    cid, ext = _synced_joao(world)
    world.edit(Cliente, cid, bairro="Centro")
    world.provider.panel_update("cliente", ext, {"bairro": "Boa Vista"})
    world.engine().sync()
    [conflict] = _pending(world)
    world.edit(Cliente, cid, cidade="Olinda")  # not synced yet when the conflict is resolved
    world.engine().resolve_conflict(conflict.id, "local", actor="ana")
    world.engine().sync()
    remote = world.provider.panel_get("cliente", ext)
    assert remote is not None and remote["bairro"] == "Centro" and remote["cidade"] == "Olinda"
    assert not _pending(world)
