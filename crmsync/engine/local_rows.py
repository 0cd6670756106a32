"""Canonical values onto local rows (ORM rows: so it lives on the engine side, out of the pure
mapping core). Reading a row back to canonical goes through the map (`erp.schema_map`), as
every entity on an ERP's own tables does.

The local side keeps ids as integers and decimals as `Decimal`; canonical records use
strings. Reference ids of a venda stay local ids here.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from crmsync.db.local import Venda, VendaItem
from crmsync.model.canonical import ClienteCanon, ProdutoCanon

CLIENTE_FIELDS = tuple(ClienteCanon.model_fields)
PRODUTO_FIELDS = tuple(ProdutoCanon.model_fields)


def apply_canon_to_row(entity_type: str, row: Any, values: dict[str, Any]) -> None:
    """Write canonical values (a full record or only some fields) onto a local row."""
    for field, value in values.items():
        if entity_type == "venda" and field == "itens":
            _apply_items(row, value or [])
            continue
        if entity_type == "venda" and field == "cliente_id":
            row.id_cliente = int(value)
            continue
        if not hasattr(row, field):
            continue
        setattr(row, field, _to_column(row, field, value))


def _to_column(row: Any, field: str, value: Any) -> Any:
    if value is None:
        return None
    if field in ("data_nascimento", "data"):
        return date.fromisoformat(value)
    if field in ("valor_custo", "valor_venda", "estoque", "valor_total"):
        return Decimal(value)
    return value


def _apply_items(row: Venda, items: list[dict[str, Any]]) -> None:
    row.itens.clear()
    for item in items:
        qty = Decimal(item["quantidade"])
        unit = Decimal(item["valor_unitario"])
        disc = Decimal(item.get("desconto") or "0")
        row.itens.append(
            VendaItem(
                id_produto=int(item["produto_id"]),
                quantidade=qty,
                valor_unitario=unit,
                desconto=disc,
                valor_total=qty * unit - disc,
            )
        )
