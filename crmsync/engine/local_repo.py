"""The local side as the engine sees it: one store's rows, their canonical records, and
reference translation for vendas.

Every query is filtered by the store (`id_loja`): rows of other stores are never read or
written. Canonical vendas hold references in the namespace of the side they came from; the
engine merges vendas in the *external* namespace (so the base snapshot is comparable with
what the provider returns) and translates through the links on the way in and out.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, text
from sqlalchemy.orm import Session, selectinload

from crmsync.db.bulk import bulk_insert
from crmsync.engine.links import Binder
from crmsync.engine.unique_keys import key_columns
from crmsync.erp.table import MappedEntity, MappedSchema, RowInvalid, active_schema, db_clock, erp_dialect
from crmsync.model.canonical import CANONICAL_MODELS, canonicalize

__all__ = ["LocalRepo", "RowInvalid", "UnresolvedReference", "complete_canonical"]

_DEFAULTS: dict[str, dict[str, Any]] = {
    entity: {name: f.default for name, f in model.model_fields.items() if not f.is_required()}
    for entity, model in CANONICAL_MODELS.items()
}
_REQUIRED: dict[str, tuple[str, ...]] = {
    entity: tuple(name for name, f in model.model_fields.items() if f.is_required())
    for entity, model in CANONICAL_MODELS.items()
}


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


# LocalRepo.get's statement by entity, then (dialect, store): built once (see LocalRepo.get)
_BY_ID: weakref.WeakKeyDictionary[MappedEntity, dict[tuple[str, int], Any]] = weakref.WeakKeyDictionary()
_EXISTS: weakref.WeakKeyDictionary[MappedEntity, dict[int, Any]] = weakref.WeakKeyDictionary()  # by store


class UnresolvedReference(Exception):
    """A venda references a cliente or produto that has no counterpart on the other side."""

    def __init__(self, entity_type: str, ref: str, side: str) -> None:
        lado = "local" if side == "local" else "externo"
        super().__init__(f"{entity_type} {lado} {ref} referenciado pela venda não tem vínculo")
        self.entity_type = entity_type
        self.ref = ref
        self.side = side


class LocalRepo:
    """One store's rows of the mapped tables (the active schema map unless one is given).

    Rows are the row classes of :mod:`crmsync.erp.table` (raw column values); canonical
    records come from the map's converters, fingerprints from the raw mapped columns."""

    def __init__(self, *, id_loja: int, binder: Binder, schema: MappedSchema | None = None) -> None:
        self.id_loja = id_loja
        self.binder = binder
        self.schema = schema or active_schema()

    def entity(self, entity_type: str) -> MappedEntity:
        return self.schema.entity(entity_type)

    def model(self, entity_type: str) -> Any:
        return self.entity(entity_type).cls

    def store_clause(self, entity_type: str) -> Any:
        return self.entity(entity_type).store_clause(self.id_loja)

    def live_clause(self, entity_type: str) -> Any:
        return self.entity(entity_type).live_clause()

    def _select(self, entity_type: str) -> Any:
        model = self.model(entity_type)
        stmt = select(model).where(self.store_clause(entity_type))
        if self.entity(entity_type).items is not None:
            stmt = stmt.options(selectinload(model.itens))
        return stmt

    def _rows(self, s: Session, entity_type: str, stmt: Any) -> list[Any]:
        """Rows of a select, each with the database's own fingerprint kept beside it when
        the database computes it (read in the same query: no second round trip)."""
        ent = self.entity(entity_type)
        expr = ent.server_hash(erp_dialect(s, ent.table))
        if expr is None:
            return list(s.scalars(stmt))
        rows = []
        for row, fingerprint in s.execute(stmt.add_columns(expr.label("crm_fingerprint"))):
            row.__dict__["_crm_hash"] = fingerprint
            rows.append(row)
        return rows

    def get(self, s: Session, entity_type: str, entity_id: int) -> Any:
        """One row by id (with its database fingerprint, as :meth:`_rows`), through a
        statement built once per entity, dialect and store: building it (and its cache key)
        at each call was most of a single-row read's CPU in the job worker."""
        ent = self.entity(entity_type)
        dialect = erp_dialect(s, ent.table)
        cache = _BY_ID.setdefault(ent, {})
        stmt = cache.get((dialect, self.id_loja))
        if stmt is None:
            stmt = self._select(entity_type).where(ent.table.c.id == bindparam("crm_entity_id"))
            expr = ent.server_hash(dialect)
            if expr is not None:
                stmt = stmt.add_columns(expr.label("crm_fingerprint"))
            cache[(dialect, self.id_loja)] = stmt
        params = {"crm_entity_id": entity_id}
        if ent.server_hash(dialect) is None:
            return s.scalars(stmt, params).first()
        found = s.execute(stmt, params).first()  # the result closed (a SQLite read would linger)
        if found is None:
            return None
        row, fingerprint = found
        row.__dict__["_crm_hash"] = fingerprint
        return row

    def exists(self, s: Session, entity_type: str, entity_id: int) -> bool:
        """Whether the store's row is still in its table (a key read, no row loaded)."""
        ent = self.entity(entity_type)
        cache = _EXISTS.setdefault(ent, {})
        stmt = cache.get(self.id_loja)
        if stmt is None:
            table = ent.table
            stmt = cache[self.id_loja] = select(table.c.id).where(
                table.c.id == bindparam("crm_entity_id"), self.store_clause(entity_type)
            )
        found = s.execute(stmt, {"crm_entity_id": entity_id}, bind_arguments={"clause": ent.table}).first()
        return found is not None

    def many(self, s: Session, entity_type: str, ids: Iterable[int]) -> dict[int, Any]:
        model = self.model(entity_type)
        wanted = list(dict.fromkeys(ids))
        out: dict[int, Any] = {}
        for start in range(0, len(wanted), 500):
            stmt = self._select(entity_type).where(model.id.in_(wanted[start : start + 500]))
            for row in self._rows(s, entity_type, stmt):
                out[row.id] = row
        return out

    def ghost(self, entity_type: str, entity_id: int) -> Any:
        return self.entity(entity_type).ghost(entity_id)

    def new_row(self, entity_type: str, values: dict[str, Any]) -> Any:
        return self.entity(entity_type).new_row(self.id_loja, values, datetime.now(UTC))

    def apply(self, entity_type: str, row: Any, values: dict[str, Any]) -> None:
        """Canonical values onto a row (only mapped, writable columns)."""
        self.entity(entity_type).apply(row, values)

    def keeps_keys(self, entity_type: str) -> bool:
        """Whether the entity's table has crmsync's `chave_*` unique-key columns (only our
        own built-in tables: an ERP's table is never altered, its keys are checked in code)."""
        return bool(self.entity(entity_type).key_fields)

    def insert_params(
        self, entity_type: str, full: dict[str, Any], ignored: frozenset[str] = frozenset()
    ) -> dict[str, Any]:
        """Core parameters of a new row from a full canonical record: every writable mapped
        field, so all rows of a batch carry the same keys (the store, defaults and stamps
        are the batch's constants, see :meth:`insert_constants`), and, on our own tables, the
        unique-key columns (``ignored``: the store's ignored key values, see
        :func:`crmsync.engine.unique_keys.store_ignored_keys`). Raises RowInvalid."""
        ent = self.entity(entity_type)
        try:
            columns = ent.emap.to_columns(full)
        except ValueError as exc:
            raise RowInvalid(ent.table.name, None, [str(exc)]) from exc
        for fmap in ent.emap.campos.values():
            if not fmap.somente_leitura:
                columns.setdefault(fmap.coluna, None)
        params = ent.shape.attr_params(ent.fill_defaults(columns, datetime.now(UTC)))
        if ent.key_fields:
            params.update(key_columns(entity_type, full, ignored))
        return params

    def insert_constants(self, entity_type: str, now: datetime) -> dict[str, Any]:
        ent = self.entity(entity_type)
        fields = {f.coluna for f in ent.emap.campos.values() if not f.somente_leitura}
        constants = ent.insert_constants(self.id_loja, now)
        return ent.shape.attr_params({c: v for c, v in constants.items() if c not in fields})

    def insert_rows(
        self, s: Session, entity_type: str, params: list[dict[str, Any]], constants: dict[str, Any]
    ) -> list[int]:
        """Insert rows, answering their ids in order. SQLite: one executemany, then the ids
        are the last ones of the table (SQLite has a single writer, and this transaction
        already holds the write lock after its first insert). Other databases: one INSERT
        per row, its key read back by the driver (still without the ORM's per-object work)."""
        ent = self.entity(entity_type)
        table = ent.table
        conn = s.connection(bind_arguments={"clause": table})  # the ERP's database
        if not ent.own_clock and "modificado_em" in constants:  # the ERP's clock, read once
            constants = {**constants, "modificado_em": conn.execute(select(db_clock(conn.dialect.name))).scalar()}
        if conn.dialect.name == "sqlite":
            bulk_insert(conn, table, params, constants)
            last: int = int(conn.execute(text("SELECT last_insert_rowid()")).scalar_one())
            first = int(last) - len(params) + 1
            ids = list(range(first, int(last) + 1))
            check: list[Any] = list(
                conn.execute(
                    select(table.c.id).where(table.c.id.between(first, int(last)), ent.store_clause(self.id_loja))
                )
                .scalars()
                .all()
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

    def stored_hashes(self, s: Session, entity_type: str, ids: list[int]) -> dict[int, str]:
        """Fingerprints of rows as the table now holds them (after a Core insert, whose
        values the database may have padded, rounded or re-encoded)."""
        ent = self.entity(entity_type)
        cols, server = ent.fingerprint_columns(erp_dialect(s, ent.table))
        out: dict[int, str] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            for row in s.execute(select(ent.table.c.id, *cols).where(ent.table.c.id.in_(chunk))):
                # rows inserted by the batch path have no items yet
                out[int(row[0])] = ent.fingerprint_of(row[1:], [], server=server)
        return out

    def canon(self, entity_type: str, row: Any) -> dict[str, Any]:
        return self.entity(entity_type).canon(row)

    def row_hash(self, entity_type: str, row: Any) -> str:
        """Fingerprint of the row's stored values, the dirty check's half: the link keeps
        the fingerprint taken right after the last sync, so any change to the row since
        (by a user, or by another program writing the table directly) shows as a different
        fingerprint. Taken from the raw mapped columns, not the canonical record: it runs
        for every linked row on every scan, and raw tuples hash without converting; a
        change that is only cosmetic is found dirty, merged, found equal, and the
        fingerprint is refreshed."""
        return self.entity(entity_type).row_hash(row)

    def settle(self, entity_type: str, row: Any) -> None:
        """After writing a row: flush and read it back, so its fingerprint is taken from
        what the database stored."""
        self.entity(entity_type).expire_raw(row)

    # ------------------------------------------------------------ reference translation (vendas)

    def to_external_refs(self, s: Session, entity_type: str, canon: dict[str, Any]) -> dict[str, Any]:
        """Local ids -> external ids (raises UnresolvedReference when a reference has no link)."""
        if entity_type != "venda":
            return canon

        def external(ref_type: str, ids: list[str]) -> dict[str, str]:
            links = self.binder.many_by_local(s, ref_type, [int(i) for i in ids])
            return {str(local_id): link.external_id for local_id, link in links.items()}

        return _translate_refs(canon, external, "local")

    def to_local_refs(self, s: Session, entity_type: str, values: dict[str, Any]) -> dict[str, Any]:
        """External ids -> local ids (raises UnresolvedReference when a reference has no link)."""
        if entity_type != "venda":
            return values

        def local(ref_type: str, ids: list[str]) -> dict[str, str]:
            links = self.binder.many_by_external(s, ref_type, ids)
            return {external_id: str(link.entity_id) for external_id, link in links.items()}

        return _translate_refs(values, local, "externo")


def _translate_refs(
    values: dict[str, Any], other: Callable[[str, list[str]], dict[str, str]], side: str
) -> dict[str, Any]:
    """A venda's cliente and produto references in the other side's ids (``other``: the
    ids on the other side of the given ``side``'s, by entity); one without a link raises
    UnresolvedReference."""
    out = dict(values)

    def swap(ref_type: str, ref: Any, known: dict[str, str]) -> str:
        if str(ref) not in known:
            raise UnresolvedReference(ref_type, str(ref), side)
        return known[str(ref)]

    if out.get("cliente_id") is not None:
        out["cliente_id"] = swap("cliente", out["cliente_id"], other("cliente", [str(out["cliente_id"])]))
    if out.get("itens"):
        known = other("produto", [str(i["produto_id"]) for i in out["itens"]])
        out["itens"] = [{**item, "produto_id": swap("produto", item["produto_id"], known)} for item in out["itens"]]
    return out
