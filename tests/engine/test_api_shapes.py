"""The public API as the CLI, the REST API and the runtime call it (docs/ENGINE_CONTRACT.md)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from engine_world import World
from sqlalchemy.orm import Session, sessionmaker

from crmsync.db.local import Cliente
from crmsync.db.sync import CrmIntegracao
from crmsync.engine import RunOptions, SyncEngine


def test_for_store_errors(sf: sessionmaker[Session], world: World) -> None:
    with pytest.raises(LookupError):
        SyncEngine.for_store(sf, 999, provider=world.provider)
    with sf() as s, s.begin():
        integ = s.get(CrmIntegracao, world.integracao_id)
        assert integ is not None
        integ.ativo = False
    with pytest.raises(ValueError, match="Integração não ativa"):
        SyncEngine.for_store(sf, world.loja_id, provider=world.provider)


def test_push_since_ids_and_result_shapes(sf: sessionmaker[Session], world: World) -> None:
    old = world.add_cliente(nome="Antigo", email="old@x.com")
    world.edit(Cliente, old, modificado_em=datetime.now(UTC) - timedelta(days=3))
    new = world.add_cliente(nome="Novo", email="new@x.com")
    events: list[dict[str, Any]] = []
    engine = SyncEngine.for_store(
        sf,
        world.loja_id,
        provider=world.provider,
        options=RunOptions(trigger="bulk", run_id="run-123"),
        progress=events.append,
    )
    summary = engine.push("cliente", since=timedelta(hours=24))
    assert [i.entity_id for i in summary.itens] == [new]
    shape = summary.as_dict()
    assert {"success", "total", "sucessos", "erros", "ignorados", "conflitos", "itens"} <= set(shape)
    assert shape["itens"][0]["operacao"] == "create" and shape["itens"][0]["external_id"]
    assert events and events[-1]["entity"] == "cliente"
    only = engine.push("cliente", ids=[old])
    assert [i.entity_id for i in only.itens] == [old] and only.success
    one = engine.push_one("cliente", 424242)
    assert not one.success and one.operacao == "erro" and "não encontrado" in (one.message or "")
    pulled = engine.pull("cliente").as_dict()
    assert {
        "success",
        "total_processados",
        "total_criados",
        "total_atualizados",
        "total_vinculados",
        "total_ignorados",
        "total_conflitos",
        "total_excluidos",
        "erros",
        "paginas",
        "planned",
    } <= set(pulled)
    synced = engine.sync(["cliente"]).as_dict()
    assert set(synced["conflitos"]) == {"total_conflitos", "resolvidos", "pendentes"}
    assert synced["run_id"] == "run-123" and synced["success"] is True
    engine.close()


def test_read_only_entity_is_never_pushed(world_factory: Any) -> None:
    world = world_factory({"entidades": {"produto": {"direcao": "pull"}}})
    world.add_produto(nome="Local", codigo="L1")
    summary = world.engine().push("produto")
    assert summary.total == 0 and world.provider.panel_list("produto") == {}
