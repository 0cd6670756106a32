"""Local rows <-> canonical records (ORM rows in, ORM rows out: so it lives on the engine side,
out of the pure mapping core).

The local side keeps ids as integers and decimals as `Decimal`; canonical records use
strings. Reference ids of a venda stay local ids here.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from crmsync.db.local import Cliente, Produto, Venda, VendaItem
from crmsync.model.canonical import ClienteCanon, ProdutoCanon, VendaCanon, canonicalize

CLIENTE_FIELDS = tuple(ClienteCanon.model_fields)
PRODUTO_FIELDS = tuple(ProdutoCanon.model_fields)
VENDA_FIELDS = tuple(VendaCanon.model_fields)


def cliente_to_canon(row: Cliente) -> dict[str, Any]:
    data = {f: getattr(row, f) for f in CLIENTE_FIELDS}
    return canonicalize("cliente", data)


def produto_to_canon(row: Produto) -> dict[str, Any]:
    data = {f: getattr(row, f) for f in PRODUTO_FIELDS}
    return canonicalize("produto", data)


def venda_to_canon(row: Venda) -> dict[str, Any]:
    data: dict[str, Any] = {
        "codigo": row.codigo,
        "cliente_id": str(row.id_cliente),
        "data": row.data,
        "situacao": row.situacao,
        "valor_total": row.valor_total,
        "observacoes": row.observacoes,
        "itens": [
            {
                "produto_id": str(item.id_produto),
                "quantidade": item.quantidade,
                "valor_unitario": item.valor_unitario,
                "desconto": item.desconto,
            }
            for item in row.itens
        ],
    }
    return canonicalize("venda", data)


def row_to_canon(entity_type: str, row: Any) -> dict[str, Any]:
    if entity_type == "cliente":
        return cliente_to_canon(row)
    if entity_type == "produto":
        return produto_to_canon(row)
    if entity_type == "venda":
        return venda_to_canon(row)
    raise KeyError(entity_type)


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
