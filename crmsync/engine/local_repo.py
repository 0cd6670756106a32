"""The local side as the engine sees it: one store's rows, their canonical records, and
reference translation for vendas.

Every query is filtered by the store (`id_loja`): rows of other stores are never read or
written. Canonical vendas hold references in the namespace of the side they came from; the
engine merges vendas in the *external* namespace (so the base snapshot is comparable with
what the provider returns) and translates through the links on the way in and out.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from types import SimpleNamespace
from typing import Any

from sqlalchemy import insert, select, text
from sqlalchemy.orm import Session, selectinload

from crmsync.db.bulk import bulk_insert
from crmsync.db.local import LOCAL_MODELS, Cliente, Produto, Venda
from crmsync.engine.links import Binder
from crmsync.engine.local_rows import CLIENTE_FIELDS, PRODUTO_FIELDS, apply_canon_to_row, row_to_canon
from crmsync.engine.unique_keys import key_columns
from crmsync.model.canonical import CANONICAL_MODELS, canonical_hash, canonicalize

__all__ = ["LocalRepo", "UnresolvedReference", "complete_canonical"]

_FOUR = Decimal("0.0001")
_FINGERPRINT_FIELDS: dict[str, tuple[str, ...]] = {
    "cliente": CLIENTE_FIELDS,
    "produto": PRODUTO_FIELDS,
    "venda": ("codigo", "id_cliente", "data", "situacao", "valor_total", "observacoes"),
}
_DEFAULTS: dict[str, dict[str, Any]] = {
    entity: {name: f.default for name, f in model.model_fields.items() if not f.is_required()}
    for entity, model in CANONICAL_MODELS.items()
}
_REQUIRED: dict[str, tuple[str, ...]] = {
    entity: tuple(name for name, f in model.model_fields.items() if f.is_required())
    for entity, model in CANONICAL_MODELS.items()
}


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, Decimal):
        return str(value.quantize(_FOUR))
    if isinstance(value, date | datetime):
        return value.isoformat()
    return str(value)


# Canonical strings that become typed columns; every other field is stored as it is.
_TYPED_COLUMNS: dict[str, Any] = {
    "data_nascimento": date.fromisoformat,
    "data": date.fromisoformat,
    "valor_custo": Decimal,
    "valor_venda": Decimal,
    "estoque": Decimal,
    "valor_total": Decimal,
}
_SIMPLE = (type(None), bool, int, str)


def complete_canonical(entity_type: str, data: dict[str, Any]) -> dict[str, Any]:
    """A full canonical record from a provider's canonical-partial one: the defaults of
    the fields it lacks are filled in without validating again what the provider already
    normalised (a full validation costs ~1 ms a record, the bulk of a large pull).
    Records missing a required field go through full validation, for its error message."""
    if entity_type == "venda" or any(data.get(name) in (None, "") for name in _REQUIRED[entity_type]):
        return canonicalize(entity_type, data)
    return {
        **_DEFAULTS[entity_type],
        **{k: v for k, v in data.items() if k in _DEFAULTS[entity_type] or k in _REQUIRED[entity_type]},
    }


Row = Cliente | Produto | Venda


@cache
def _data_columns(entity_type: str) -> tuple[str, ...]:
    """The columns of a local table that hold canonical fields (cached: it runs for every
    new row of a large pull, and a SQLAlchemy column collection is slow to walk)."""
    fields = CANONICAL_MODELS[entity_type].model_fields
    return tuple(c.key for c in LOCAL_MODELS[entity_type].__table__.c if c.key in fields)


@cache
def _typed_columns(entity_type: str) -> tuple[str, ...]:
    return tuple(name for name in _data_columns(entity_type) if name in _TYPED_COLUMNS)


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
            for row in s.scalars(self._select(entity_type).where(model.id.in_(wanted[start : start + 500]))):
                out[row.id] = row
        return out

    def new_row(self, entity_type: str, values: dict[str, Any]) -> Any:
        row = self.model(entity_type)(id_loja=self.id_loja)
        if entity_type == "venda":
            row.itens = []
        apply_canon_to_row(entity_type, row, values)
        return row

    def insert_params(
        self, entity_type: str, full: dict[str, Any], ignored: frozenset[str] = frozenset()
    ) -> dict[str, Any]:
        """Column values of a new cliente/produto row from a full canonical record: every
        data column, so all rows of a batch carry the same keys (the store and the
        timestamps are the batch's constants, see :meth:`insert_constants`), and the unique
        key columns (``ignored``: the store's ignored key values, see
        :func:`crmsync.engine.unique_keys.store_ignored_keys`)."""
        params = {name: full.get(name) for name in _data_columns(entity_type)}
        params.update(key_columns(entity_type, params, ignored))
        for name in _typed_columns(entity_type):
            if params[name] is not None:
                params[name] = _TYPED_COLUMNS[name](params[name])
        return params

    def insert_constants(self, now: datetime) -> dict[str, Any]:
        return {"id_loja": self.id_loja, "cadastrado_em": now, "modificado_em": now, "deletado_em": None}

    def insert_rows(
        self, s: Session, entity_type: str, params: list[dict[str, Any]], constants: dict[str, Any]
    ) -> list[int]:
        """Insert rows, answering their ids in order. SQLite: one executemany, then the ids
        are the last ones of the table (SQLite has a single writer, and this transaction
        already holds the write lock after its first insert). Other databases: one INSERT
        per row, its key read back by the driver (still without the ORM's per-object work)."""
        table = self.model(entity_type).__table__
        conn = s.connection()
        if conn.dialect.name == "sqlite":
            bulk_insert(conn, table, params, constants)
            last: int = int(conn.execute(text("SELECT last_insert_rowid()")).scalar_one())
            first = int(last) - len(params) + 1
            ids = list(range(first, int(last) + 1))
            check: list[int] = list(
                conn.execute(
                    select(table.c.id).where(table.c.id.between(first, int(last)), table.c.id_loja == self.id_loja)
                ).scalars()
            )
            if len(check) != len(params):  # never expected; refuse rather than mislink
                raise RuntimeError("ids das linhas inseridas não são contíguos")
            return ids
        stmt = insert(table)
        keys: list[int] = []
        for p in params:
            key = conn.execute(stmt, {**constants, **p}).inserted_primary_key
            assert key is not None
            keys.append(int(key[0]))
        return keys

    @staticmethod
    def params_hash(entity_type: str, params: dict[str, Any]) -> str:
        """The fingerprint of a row about to be inserted with these column values (the
        same as :meth:`row_hash` of that row, read from the dict without building one)."""
        if entity_type == "venda":
            return LocalRepo.row_hash(entity_type, SimpleNamespace(**params))
        values = [params[name] for name in _FINGERPRINT_FIELDS[entity_type]]
        return canonical_hash({"v": [v if type(v) in _SIMPLE else _plain(v) for v in values]})

    @staticmethod
    def canon(entity_type: str, row: Any) -> dict[str, Any]:
        return row_to_canon(entity_type, row)

    @staticmethod
    def row_hash(entity_type: str, row: Any) -> str:
        """Fingerprint of the row's stored values, the dirty check's half: the link keeps
        the fingerprint taken right after the last sync, so any change to the row since
        (by a user, or by another program writing the table directly) shows as a different
        fingerprint. Taken from the raw columns, not the canonical record, because it runs
        for every linked row on every scan and canonicalising (document, e-mail and phone
        validation) costs about a millisecond a row; a change that is only cosmetic is
        found dirty, merged, found equal, and the fingerprint is refreshed."""
        values: list[Any] = [_plain(getattr(row, name)) for name in _FINGERPRINT_FIELDS[entity_type]]
        if entity_type == "venda":
            values.append(
                [
                    [item.id_produto, _plain(item.quantidade), _plain(item.valor_unitario), _plain(item.desconto)]
                    for item in row.itens
                ]
            )
        return canonical_hash({"v": values})

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
