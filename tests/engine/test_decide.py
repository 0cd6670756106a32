"""The push's decision is pure (#18 "decide, then apply"): from a record's gathered state
alone it says what to do, and a dry run's plan is that decision's list of writes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from engine_world import World

from crmsync.db.local import Cliente
from crmsync.engine.decide import PushState, decide_push, plan_entries
from crmsync.merge import FieldPolicy, MergeContext
from crmsync.providers.base import RemoteRecord


def _state(**overrides: Any) -> PushState:
    values: dict[str, Any] = {
        "entity_type": "cliente",
        "entity_id": 7,
        "deleted": False,
        "link_status": "sincronizado",
        "link_external_id": "r7",
        "direction": "both",
        "delete_remoto": "deactivate",
        "delete_local": "soft_delete",
        "local_ext": {"nome": "Ana", "cidade": "Natal"},
        "base": {"nome": "Ana", "cidade": "Recife"},
        "remote": RemoteRecord("r7", {"nome": "Ana", "cidade": "Recife"}),
        "policy": lambda name: FieldPolicy(),
        "ctx": MergeContext(
            local_modified_at=None, external_modified_at=None, skew_tolerance=timedelta(0), direction="both"
        ),
    }
    values.update(overrides)
    return PushState(**values)


def test_a_local_change_is_an_update_of_the_crm_with_its_fields() -> None:
    state = _state()
    decision = decide_push(state)
    assert decision.action == "merge" and decision.send == {"cidade": "Natal"}
    assert [(p["lado"], p["operacao"], p["campos"]) for p in plan_entries(state, decision)] == [
        ("externo", "update", {"cidade": "Natal"})
    ]


def test_an_unlinked_row_links_to_the_record_holding_its_keys_or_is_created() -> None:
    found = _state(
        link_status=None, link_external_id=None, base=None, remote=RemoteRecord("r9", {"nome": "Ana", "cidade": None})
    )
    decision = decide_push(found)
    assert decision.action == "link" and decision.send == {"cidade": "Natal"}
    assert [(p["lado"], p["external_id"]) for p in plan_entries(found, decision)] == [
        ("vinculo", "r9"),
        ("externo", "r9"),
    ]
    new = _state(link_status=None, link_external_id=None, base=None, remote=None)
    created = decide_push(new)
    assert created.action == "create" and created.send == new.local_ext
    assert plan_entries(new, created)[0]["external_id"] is None


def test_deletes_skips_and_a_record_gone_from_the_crm() -> None:
    assert decide_push(_state(deleted=True)).action == "deactivate"
    assert decide_push(_state(deleted=True, delete_remoto="delete")).action == "delete"
    assert decide_push(_state(deleted=True, delete_remoto="conflict")).action == "delete_conflict"
    assert decide_push(_state(deleted=True, delete_remoto="ignore")).action == "ignore_delete"
    assert decide_push(_state(deleted=True, link_status=None, link_external_id=None)).action == "skip"
    assert decide_push(_state(link_status="excluido_remoto")).action == "skip"
    assert decide_push(_state(direction="pull")).action == "skip"
    gone = _state(remote=None, remote_gone=True)
    assert decide_push(gone).action == "remote_gone"
    assert [p["operacao"] for p in plan_entries(gone, decide_push(gone))] == ["delete"]
    kept = _state(remote=None, remote_gone=True, delete_local="ignore")
    assert plan_entries(kept, decide_push(kept)) == []


def test_a_dry_run_reports_what_the_real_run_then_applies(world: World) -> None:
    """Every kind of push decision in one run: the dry run's items and plan are the real
    run's, and the dry run wrote nothing on either side."""
    edited = world.add_cliente(nome="Editada", email="ed@x.com")
    removed = world.add_cliente(nome="Removida", email="rm@x.com")
    gone = world.add_cliente(nome="Sumiu", email="gone@x.com")
    assert world.engine().push("cliente").success
    world.edit(Cliente, edited, cidade="Olinda")
    world.edit(Cliente, removed, deletado_em=datetime.now(UTC))
    world.provider.panel_delete("cliente", world.link_of("cliente", gone).external_id)  # type: ignore[union-attr]
    world.edit(Cliente, gone, cidade="Recife")
    twin = world.add_cliente(nome="Gêmea", email="twin@x.com")
    world.provider.panel_create("cliente", {"nome": "Gêmea", "email": "twin@x.com"})
    new = world.add_cliente(nome="Nova", email="nova@x.com")
    writes = world.provider.write_calls

    dry = world.engine(dry_run=True).push("cliente")
    assert world.provider.write_calls == writes and world.link_of("cliente", new) is None
    assert world.get(Cliente, gone).deletado_em is None
    real = world.engine().push("cliente")

    def ops(summary: Any) -> dict[int | None, str]:
        return {item.entity_id: item.operacao for item in summary.itens}

    assert (
        ops(dry)
        == ops(real)
        == {
            edited: "update",
            removed: "deactivate",
            gone: "delete",
            twin: "link",
            new: "create",
        }
    ), (ops(dry), ops(real))
    planned = {(p["entity_id"], p["lado"], p["operacao"]) for item in dry.itens for p in item.planned}
    assert planned == {
        (edited, "externo", "update"),
        (removed, "externo", "deactivate"),
        (gone, "local", "delete"),
        (twin, "vinculo", "link"),
        (new, "externo", "create"),
    }, planned
    assert world.get(Cliente, gone).deletado_em is not None and world.link_of("cliente", new) is not None
