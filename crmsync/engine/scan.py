"""Change detection on the mapped tables, level-triggered: which local rows differ from
what was last synced.

A row is *new* (no link), *changed* (the fingerprint of its mapped columns differs from
the link's ``local_hash``: computed by MariaDB/PostgreSQL themselves, or hashed here from
the raw values on SQLite and for vendas), *deleted* (soft-deleted by the map's convention while its link is
active) or *gone* (its link is active but the key vanished from the table: a hard delete
by the ERP). The hash needs no conversion, so a full scan is a stream of plain tuples
through ``blake2b``.

Why keyset pages and not one server-side cursor: pages of ``batch`` keys in key order keep
memory constant on every database, and leave the connection free between pages for the
items of a page of vendas (MariaDB cannot run a second query while a streamed result is
open on the same connection).

Two databases (the ERP's tables in one, our links in another, see
crmsync.db.session.TwoDatabaseSession): no SQL join is possible, so each page of the ERP's
table is read alone and the links of the page's key range ``(previous last, last]`` are
read from ours and paired in Python; a link in the range without a row, or past the last
row, is a vanished key. The watermark pass with ``new_rows`` (the reconcile's quick pass)
must see every key to find the rows never linked and the vanished ones, so it reads every
row's key, modified and delete columns, and fingerprints only the rows at or after the
watermark (the database's own hash is computed only for those).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import and_, case, exists, null, or_, select
from sqlalchemy.orm import Session

from crmsync.db.session import elsewhere
from crmsync.db.sync import CrmEntityLink
from crmsync.engine.links import ACTIVE_STATUSES
from crmsync.erp.table import MappedEntity, erp_dialect

__all__ = ["ScanHit", "scan_local"]

Kind = Literal["novo", "alterado", "excluido", "sumiu", "igual"]


@dataclass(frozen=True)
class ScanHit:
    entity_id: int
    kind: Kind
    modified: datetime | None = None
    link_status: str | None = None


def _link_join(ent: MappedEntity, id_loja: int, provider: str) -> Any:
    return and_(
        CrmEntityLink.id_loja == id_loja,
        CrmEntityLink.provider == provider,
        CrmEntityLink.entity_type == ent.entity_type,
        CrmEntityLink.entity_id == ent.table.c.id,
    )


@dataclass(frozen=True)
class _Plan:
    """The scan's statement and where each value sits in its rows."""

    stmt: Any
    server: bool  # the fingerprint column is the database's own hash
    has_modified: bool
    delete_name: str | None  # the soft-delete column, when the map has one
    first_hashed: int


def _plan(
    s: Session,
    ent: MappedEntity,
    *,
    id_loja: int,
    provider: str,
    ids: list[int] | None,
    since: datetime | None,
    new_rows: bool,
    report_equal: bool,
) -> _Plan:
    table = ent.table
    hashed, server = ent.fingerprint_columns(erp_dialect(s, table))
    modified = ent.modified_column()
    ex = ent.emap.exclusao
    delete_col = table.c[ent.shape.keys[ex.coluna]] if ex.modo != "fisico" and ex.coluna is not None else None
    extra = [c for c in (modified, delete_col) if c is not None]
    cols = [table.c.id, CrmEntityLink.status, CrmEntityLink.local_hash, *extra, *hashed]
    stmt = select(*cols).outerjoin(CrmEntityLink, _link_join(ent, id_loja, provider)).where(ent.store_clause(id_loja))
    if ids is not None:
        stmt = stmt.where(table.c.id.in_(ids))
    elif since is not None and modified is not None:
        recent = modified >= since
        stmt = stmt.where(or_(recent, CrmEntityLink.id.is_(None)) if new_rows else recent)
    if server and ids is None and not report_equal:
        # the database compares the fingerprints itself: an unchanged row never leaves it
        differs = or_(
            CrmEntityLink.id.is_(None), CrmEntityLink.local_hash.is_(None), CrmEntityLink.local_hash != hashed[0]
        )
        stmt = stmt.where(differs if delete_col is None else or_(differs, ~ent.live_clause()))
    return _Plan(
        stmt=stmt,
        server=server,
        has_modified=modified is not None,
        delete_name=ex.coluna if delete_col is not None else None,
        first_hashed=3 + len(extra),
    )


def _classify(
    ent: MappedEntity, plan: _Plan, r: Any, items: dict[int, list[tuple[Any, ...]]] | None, *, report_equal: bool
) -> ScanHit | None:
    entity_id, status, local_hash = int(r[0]), r[1], r[2]
    stamp = r[3] if plan.has_modified else None
    if plan.delete_name is not None and ent.emap.is_deleted({plan.delete_name: r[3 + plan.has_modified]}):
        return ScanHit(entity_id, "excluido", stamp, status) if status in ACTIVE_STATUSES else None
    if status is not None and status not in ACTIVE_STATUSES:
        return None
    if status is None:
        return ScanHit(entity_id, "novo", stamp, None)
    row_items = items.get(entity_id, []) if items is not None else None
    if ent.fingerprint_of(r[plan.first_hashed :], row_items, server=plan.server) != local_hash:
        return ScanHit(entity_id, "alterado", stamp, status)
    return ScanHit(entity_id, "igual", stamp, status) if report_equal else None


def scan_local(
    s: Session,
    ent: MappedEntity,
    *,
    id_loja: int,
    provider: str,
    ids: list[int] | None = None,
    since: datetime | None = None,
    new_rows: bool = False,
    report_equal: bool = False,
    batch: int = 2000,
) -> Iterator[ScanHit]:
    """Rows of one store that need a push, in key order, then the vanished keys.

    ``since``: only rows whose modified column is at or after it (a map without a modified
    column scans everything); with ``new_rows`` also every row never linked and the vanished
    keys (the reconcile's watermark pass, crmsync.runtime.jobs.reconcile.dirty_local_ids).
    ``report_equal``: also yield unchanged rows (``igual``; used by ``--all`` and ``ids``)."""
    if elsewhere(s, ent.table):
        yield from _scan_apart(
            s,
            ent,
            id_loja=id_loja,
            provider=provider,
            ids=ids,
            since=since,
            new_rows=new_rows,
            report_equal=report_equal,
            batch=batch,
        )
        return
    plan = _plan(
        s, ent, id_loja=id_loja, provider=provider, ids=ids, since=since, new_rows=new_rows, report_equal=report_equal
    )
    conn = s.connection(bind_arguments={"clause": ent.table})  # Core rows: the ORM's bookkeeping doubled a scan's time
    last: int | None = None
    while True:
        page_stmt = plan.stmt.order_by(ent.table.c.id).limit(batch)
        if last is not None:
            page_stmt = page_stmt.where(ent.table.c.id > last)
        rows = conn.execute(page_stmt).all()
        if not rows:
            break
        last = int(rows[-1][0])
        items = _items_of(s, ent, [int(r[0]) for r in rows]) if ent.items is not None else None
        for r in rows:
            hit = _classify(ent, plan, r, items, report_equal=report_equal or ids is not None)
            if hit is not None:
                yield hit
        if len(rows) < batch:
            break
    if since is None or new_rows:
        yield from _vanished(s, ent, id_loja=id_loja, provider=provider, ids=ids)


def links_of(
    s: Session,
    entity_type: str,
    *,
    id_loja: int,
    provider: str,
    columns: list[Any],
    ids: list[int] | None = None,
    after: int | None = None,
    upto: int | None = None,
) -> dict[int, tuple[Any, ...]]:
    """The links (``columns`` of each) of one entity's keys, read from crmsync's database:
    the keys ``ids``, or the key range ``(after, upto]`` (an end is open when None)."""
    stmt = select(CrmEntityLink.entity_id, *columns).where(
        CrmEntityLink.id_loja == id_loja,
        CrmEntityLink.provider == provider,
        CrmEntityLink.entity_type == entity_type,
    )
    conn = s.connection()  # Core rows, as the scan's own: the ORM's per-row work is not needed
    if ids is not None:
        out: dict[int, tuple[Any, ...]] = {}
        for start in range(0, len(ids), 500):
            chunk = stmt.where(CrmEntityLink.entity_id.in_(ids[start : start + 500]))
            out.update((r[0], tuple(r[1:])) for r in conn.execute(chunk))
        return out
    if after is not None:
        stmt = stmt.where(CrmEntityLink.entity_id > after)
    if upto is not None:
        stmt = stmt.where(CrmEntityLink.entity_id <= upto)
    return {r[0]: tuple(r[1:]) for r in conn.execute(stmt)}


def _apart_plan(
    s: Session, ent: MappedEntity, *, id_loja: int, ids: list[int] | None, since: datetime | None, new_rows: bool
) -> tuple[_Plan, Any]:
    """The statement on the ERP's table alone, and the "recent" condition of a watermark
    pass (None without one)."""
    table = ent.table
    hashed, server = ent.fingerprint_columns(erp_dialect(s, table))
    modified = ent.modified_column()
    ex = ent.emap.exclusao
    delete_col = table.c[ent.shape.keys[ex.coluna]] if ex.modo != "fisico" and ex.coluna is not None else None
    extra = [c for c in (modified, delete_col) if c is not None]
    recent = modified >= since if since is not None and modified is not None and ids is None else None
    if recent is not None and new_rows and server:
        hashed = [case((recent, hashed[0]), else_=null())]  # the database hashes recent rows only
    stmt = select(table.c.id, *extra, *hashed).where(ent.store_clause(id_loja))
    if ids is not None:
        stmt = stmt.where(table.c.id.in_(ids))
    elif recent is not None and not new_rows:
        stmt = stmt.where(recent)
    plan = _Plan(
        stmt=stmt,
        server=server,
        has_modified=modified is not None,
        delete_name=ex.coluna if delete_col is not None else None,
        first_hashed=3 + len(extra),
    )
    return plan, recent


def _scan_apart(
    s: Session,
    ent: MappedEntity,
    *,
    id_loja: int,
    provider: str,
    ids: list[int] | None,
    since: datetime | None,
    new_rows: bool,
    report_equal: bool,
    batch: int,
) -> Iterator[ScanHit]:
    """:func:`scan_local` when the ERP's table and our links are in two databases: the
    same hits, from pages of the ERP's table paired with the links of their key range."""
    table = ent.table
    plan, recent = _apart_plan(s, ent, id_loja=id_loja, ids=ids, since=since, new_rows=new_rows)
    stmt = plan.stmt
    skip_old = recent is not None and new_rows
    want_vanished = since is None or new_rows
    dense = ids is None and want_vanished  # every key is read: the links of each page's range
    link_cols: list[Any] = [CrmEntityLink.status, CrmEntityLink.local_hash]
    equal = report_equal or ids is not None
    links: dict[int, tuple[Any, ...]] = {}
    if ids is not None:
        links = links_of(s, ent.entity_type, id_loja=id_loja, provider=provider, columns=link_cols, ids=list(ids))
    left: dict[int, tuple[Any, ...]] = {}  # links without a row: vanished keys
    conn = s.connection(bind_arguments={"clause": table})
    last: int | None = None
    while True:
        page_stmt = stmt.order_by(table.c.id).limit(batch)
        if last is not None:
            page_stmt = page_stmt.where(table.c.id > last)
        rows = conn.execute(page_stmt).all()
        upto = int(rows[-1][0]) if len(rows) == batch else None  # None: the last page, every key after
        page_ids = [int(r[0]) for r in rows]
        if dense:
            links = links_of(
                s, ent.entity_type, id_loja=id_loja, provider=provider, columns=link_cols, after=last, upto=upto
            )
        elif ids is None:
            links = links_of(s, ent.entity_type, id_loja=id_loja, provider=provider, columns=link_cols, ids=page_ids)
        items = _items_of(s, ent, page_ids) if ent.items is not None and rows else None
        for r in rows:
            status, local_hash = links.pop(int(r[0]), (None, None))
            if skip_old and status is not None and (r[1] is None or r[1] < since):
                continue  # linked, and not changed since the watermark: as the one-database scan
            hit = _classify(ent, plan, (r[0], status, local_hash, *r[1:]), items, report_equal=equal)
            if hit is not None:
                yield hit
        if dense:
            left.update(links)
        if upto is None:
            break
        last = upto
    if ids is not None:
        left = links
    if want_vanished:
        for key, (status, _hash) in sorted(left.items()):
            if status in ACTIVE_STATUSES:
                yield ScanHit(key, "sumiu", None, status)


def _items_of(s: Session, ent: MappedEntity, venda_ids: list[int]) -> dict[int, list[tuple[Any, ...]]]:
    assert ent.items is not None and ent.emap.itens is not None
    items = ent.items
    fk = items.table.c[items.keys[ent.emap.itens.coluna_venda]]
    cols = [items.table.c[items.keys[c]] for c in items.hashed]
    out: dict[int, list[tuple[Any, ...]]] = {}
    stmt = select(fk, *cols).where(fk.in_(venda_ids)).order_by(fk, items.table.c.id)
    for row in s.connection(bind_arguments={"clause": items.table}).execute(stmt):
        out.setdefault(int(row[0]), []).append(tuple(row[1:]))
    return out


def _vanished(
    s: Session, ent: MappedEntity, *, id_loja: int, provider: str, ids: list[int] | None
) -> Iterator[ScanHit]:
    """Active links whose row is no longer in the table (hard-deleted by the ERP)."""
    present = exists().where(ent.table.c.id == CrmEntityLink.entity_id, ent.store_clause(id_loja))
    stmt = select(CrmEntityLink.entity_id, CrmEntityLink.status).where(
        CrmEntityLink.id_loja == id_loja,
        CrmEntityLink.provider == provider,
        CrmEntityLink.entity_type == ent.entity_type,
        CrmEntityLink.status.in_(ACTIVE_STATUSES),
        ~present,
    )
    if ids is not None:
        stmt = stmt.where(CrmEntityLink.entity_id.in_(ids))
    for entity_id, status in s.execute(stmt.order_by(CrmEntityLink.entity_id)).all():
        yield ScanHit(int(entity_id), "sumiu", None, status)
