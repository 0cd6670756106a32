"""A venda pushed with its dependencies calls the CRM with no transaction open: with store A's
CRM hung while A's venda push syncs its cliente first, store B's writes go through (SQLite:
one write lock for the whole file; PostgreSQL: the same test, no lock waits either)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from crmsync.db.local import Venda, VendaItem
from crmsync.db.session import session_scope
from crmsync.services.local_data import create_record

from .conftest import valid_cpf
from .hung_world import HungWorld, b_writes_while_a_waits, engine_of_a, on_sqlite_and_postgresql


@on_sqlite_and_postgresql
def test_hung_crm_during_a_venda_push_does_not_block_another_store(hung_world: HungWorld) -> None:
    loja_a = hung_world.stores.loja_a
    with session_scope() as s:
        cliente = create_record(s, loja_a, "cliente", {"nome": "Ana", "cpf": valid_cpf(100200300)})
        produto = create_record(s, loja_a, "produto", {"nome": "Caneta", "codigo": "CAN-1", "valor_venda": "3"})
        venda = Venda(id_loja=loja_a, id_cliente=cliente.id, data=date(2025, 1, 14), valor_total=Decimal("6"))
        venda.itens.append(
            VendaItem(id_produto=produto.id, quantidade=Decimal(2), valor_unitario=Decimal(3), valor_total=Decimal(6))
        )
        s.add(venda)
        s.flush()
        venda_id = venda.id
    with engine_of_a(hung_world.stores) as engine:
        result = b_writes_while_a_waits(hung_world, lambda: engine.push_one("venda", venda_id))
    assert not result.success  # type: ignore[attr-defined]
    assert "cliente" in (result.message or "")  # type: ignore[attr-defined]
