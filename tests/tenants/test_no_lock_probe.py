"""Every CRM call of a venda push, of a pulled venda's references, and of the review
decisions (conflicts, duplicates) is made with no transaction open: a probe in the CRM
tries to take SQLite's write lock without waiting on each call, and finds it free."""

from __future__ import annotations

import sys
from pathlib import Path

from crmsync.db.local import Cliente, Produto, Venda
from crmsync.db.session import get_sessionmaker

from .lock_probe import LockProbeCrm

sys.path.insert(0, str(Path(__file__).parents[1] / "engine"))
from engine_world import World, make_world


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
    p = crm.panel_create("produto", {"nome": "Mouse", "codigo": "MS-1", "valor_venda": "50"})
    crm.panel_create(
        "venda",
        {
            "cliente_id": c,
            "data": "2025-01-14",
            "codigo": "77",
            "itens": [{"produto_id": p, "quantidade": "2", "valor_unitario": "50"}],
        },
    )
    result = world.engine().pull("venda")
    assert result.success and result.total_criados == 1, result.erros
    [venda] = world.rows(Venda)
    [cliente] = world.rows(Cliente)  # linked by e-mail to the store's own, not imported twice
    [produto] = world.rows(Produto)
    assert venda.id_cliente == cliente.id and produto.codigo == "MS-1"
    assert crm.calls.get("get", 0) >= 2  # the references were read from the CRM ...
    assert crm.locked_during == []  # ... each with no transaction open
