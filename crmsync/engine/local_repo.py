"""The local side as the engine sees it: one store's rows, their canonical records, and
reference translation for vendas.

Every query is filtered by the store (`id_loja`): rows of other stores are never read or
written. Canonical vendas hold references in the namespace of the side they came from; the
engine merges vendas in the *external* namespace (so the base snapshot is comparable with
what the provider returns) and translates through the links on the way in and out.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from crmsync.db.local import LOCAL_MODELS, Cliente, Produto, Venda
from crmsync.engine.links import Binder
from crmsync.mapping.local import apply_canon_to_row, row_to_canon
from crmsync.model.canonical import canonical_hash

__all__ = ["LocalRepo", "UnresolvedReference"]

Row = Cliente | Produto | Venda


class UnresolvedReference(Exception):
    """A venda references a cliente or produto that has no counterpart on the other side."""

    def __init__(self, entity_type: str, ref: str, side: str) -> None:
        lado = "local" if side == "local" else "externo"
        super().__init__(f"{entity_type} {lado} {ref} referenciado pela venda não tem vínculo")
        self.entity_type = entity_type
        self.ref = ref
        self.side = side


class LocalRepo:
    def __init__(self, *, id_loja: int, binder: Binder) -> None:
        self.id_loja = id_loja
        self.binder = binder

    def model(self, entity_type: str) -> Any:
        return LOCAL_MODELS[entity_type]

    def _select(self, entity_type: str) -> Any:
        model = self.model(entity_type)
        stmt = select(model).where(model.id_loja == self.id_loja)
        if entity_type == "venda":
            stmt = stmt.options(selectinload(Venda.itens))
        return stmt

    def get(self, s: Session, entity_type: str, entity_id: int) -> Any:
        model = self.model(entity_type)
        return s.scalars(self._select(entity_type).where(model.id == entity_id)).first()

    def many(self, s: Session, entity_type: str, ids: Iterable[int]) -> dict[int, Any]:
        model = self.model(entity_type)
        wanted = list(dict.fromkeys(ids))
        out: dict[int, Any] = {}
        for start in range(0, len(wanted), 500):
            for row in s.scalars(self._select(entity_type).where(model.id.in_(wanted[start:start + 500]))):
                out[row.id] = row
        return out

    def new_row(self, entity_type: str, values: dict[str, Any]) -> Any:
        row = self.model(entity_type)(id_loja=self.id_loja)
        if entity_type == "venda":
            row.itens = []
        apply_canon_to_row(entity_type, row, values)
        return row

    @staticmethod
    def canon(entity_type: str, row: Any) -> dict[str, Any]:
        return row_to_canon(entity_type, row)

    @staticmethod
    def row_hash(entity_type: str, row: Any) -> str:
        return canonical_hash(row_to_canon(entity_type, row))

    # ------------------------------------------------------------ reference translation (vendas)

    def to_external_refs(self, s: Session, entity_type: str, canon: dict[str, Any]) -> dict[str, Any]:
        """Local ids -> external ids (raises UnresolvedReference when a reference has no link)."""
        if entity_type != "venda":
            return canon
        out = dict(canon)
        if "cliente_id" in out and out["cliente_id"] is not None:
            link = self.binder.by_local(s, "cliente", int(out["cliente_id"]))
            if link is None:
                raise UnresolvedReference("cliente", str(out["cliente_id"]), "local")
            out["cliente_id"] = link.external_id
        if out.get("itens"):
            items = []
            ids = {int(i["produto_id"]) for i in out["itens"]}
            links = self.binder.many_by_local(s, "produto", ids)
            for item in out["itens"]:
                link = links.get(int(item["produto_id"]))
                if link is None:
                    raise UnresolvedReference("produto", str(item["produto_id"]), "local")
                items.append({**item, "produto_id": link.external_id})
            out["itens"] = items
        return out

    def to_local_refs(self, s: Session, entity_type: str, values: dict[str, Any]) -> dict[str, Any]:
        """External ids -> local ids (raises UnresolvedReference when a reference has no link)."""
        if entity_type != "venda":
            return values
        out = dict(values)
        if "cliente_id" in out and out["cliente_id"] is not None:
            link = self.binder.by_external(s, "cliente", str(out["cliente_id"]))
            if link is None:
                raise UnresolvedReference("cliente", str(out["cliente_id"]), "externo")
            out["cliente_id"] = str(link.entity_id)
        if out.get("itens"):
            links = self.binder.many_by_external(s, "produto", [str(i["produto_id"]) for i in out["itens"]])
            items = []
            for item in out["itens"]:
                link = links.get(str(item["produto_id"]))
                if link is None:
                    raise UnresolvedReference("produto", str(item["produto_id"]), "externo")
                items.append({**item, "produto_id": str(link.entity_id)})
            out["itens"] = items
        return out
