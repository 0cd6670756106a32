"""Sales: dependencies pushed first, references resolved and imported on pull."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import yaml
from engine_world import World, crm_venda

from crmsync.db.local import Cliente, Produto, Venda


def test_push_venda_pushes_cliente_and_produtos_first(world: World) -> None:
    cid = world.add_cliente(nome="Comprador", email="comp@x.com")
    p1 = world.add_produto(nome="Caneta", codigo="CAN-1")
    p2 = world.add_produto(nome="Caderno", codigo="CAD-1")
    vid = world.add_venda(cid, [(p1, "2", "3.50"), (p2, "1", "12")], codigo="V1")
    result = world.engine().push_one("venda", vid)
    assert result.success and result.operacao == "create", result.message
    remote = world.provider.panel_get("venda", result.external_id)  # type: ignore[arg-type]
    assert remote is not None
    assert remote["cliente_id"] == world.link_of("cliente", cid).external_id  # type: ignore[union-attr]
    assert [i["produto_id"] for i in remote["itens"]] == [
        world.link_of("produto", p1).external_id,
        world.link_of("produto", p2).external_id,
    ]  # type: ignore[union-attr]
    assert world.engine().sync().para_crm["total"] == 0


def test_pull_venda_imports_missing_references(world: World) -> None:
    c = world.provider.panel_create("cliente", {"nome": "Cliente CRM", "email": "ccrm@x.com"})
    v = crm_venda(world.provider, c)
    result = world.engine().pull("venda")
    assert result.success and result.total_criados == 1, result.erros
    [venda] = world.rows(Venda)
    [cliente] = world.rows(Cliente)
    [produto] = world.rows(Produto)
    assert venda.id_cliente == cliente.id and cliente.nome == "Cliente CRM"
    with world.sf() as s:
        row = s.get(Venda, venda.id)
        assert row is not None and [i.id_produto for i in row.itens] == [produto.id]
    assert world.link_of("venda", venda.id).external_id == v  # type: ignore[union-attr]
    assert world.engine().sync().success
    assert world.provider.write_calls == 0


def test_venda_with_unresolvable_reference_is_one_failed_item(world: World) -> None:
    world.provider.panel_create("venda", {"cliente_id": "m999999", "data": "2025-01-14", "itens": []})
    result = world.engine().pull("venda")
    assert not result.success and len(result.erros) == 1
    assert "cliente externo m999999" in result.erros[0]["erro"]
    assert not world.rows(Venda)


def test_read_only_produto_not_linked_fails_the_venda_clearly(world_factory: Callable[..., World]) -> None:
    spec = yaml.safe_load((Path(__file__).parents[2] / "crmsync/examples/spec-config.yaml").read_text())
    world = world_factory(spec)
    cid = world.add_cliente(nome="Comprador", email="comp@x.com")
    pid = world.add_produto(nome="Local só", codigo="LS-1")
    vid = world.add_venda(cid, [(pid, "1", "10")])
    result = world.engine().push_one("venda", vid)
    assert not result.success and "somente leitura" in (result.message or "")
    assert world.provider.panel_list("venda") == {}
