"""The binder: links between local rows and external records (`crm_entity_links`).

A link is unique on both sides, so creating one is the guard against duplicates: when two
runs race to link the same record, the second insert fails on the unique constraint and the
binder answers with the link that won (OCA connector's `_retry_unique_violation`).
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

from sqlalchemy import Table, bindparam, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crmsync.db.sync import CrmEntityLink
from crmsync.model.canonical import canonical_hash

K = TypeVar("K")

__all__ = ["Binder", "LinkTaken"]

# Link states: the record is in sync (or awaiting a conflict decision), or one side deleted it.
ACTIVE_STATUSES = ("sincronizado", "conflito")


def _one_link(column: Any) -> Any:
    """The select of one link by ``column``, every value a parameter: built once, so a
    single-record push does not build (and compute the cache key of) it at each read."""
    return select(CrmEntityLink).where(
        CrmEntityLink.id_loja == bindparam("b_loja"),
        CrmEntityLink.provider == bindparam("b_provider"),
        CrmEntityLink.entity_type == bindparam("b_entity"),
        column == bindparam("b_key"),
    )


_LINK_TABLE = cast(Table, CrmEntityLink.__table__)
_INSERT_LINK = insert(_LINK_TABLE)  # its values given at execution (Binder.insert)
_LINK_COLUMNS = tuple(c.key for c in _LINK_TABLE.columns if c.key != "id")
_BY_LOCAL = _one_link(CrmEntityLink.entity_id)
_BY_EXTERNAL = _one_link(CrmEntityLink.external_id)


class LinkTaken(Exception):
    """The local row or the external record is already linked to something else."""

    def __init__(self, existing: CrmEntityLink) -> None:
        super().__init__(f"vínculo já existe: local #{existing.entity_id} <-> externo {existing.external_id}")
        self.existing = existing


class Binder:
    def __init__(self, *, id_loja: int, id_integracao: int, provider: str) -> None:
        self.id_loja = id_loja
        self.id_integracao = id_integracao
        self.provider = provider

    def _base(self, entity_type: str) -> Any:
        return select(CrmEntityLink).where(
            CrmEntityLink.id_loja == self.id_loja,
            CrmEntityLink.provider == self.provider,
            CrmEntityLink.entity_type == entity_type,
        )

    def _params(self, entity_type: str, key: Any) -> dict[str, Any]:
        return {"b_loja": self.id_loja, "b_provider": self.provider, "b_entity": entity_type, "b_key": key}

    def by_local(self, s: Session, entity_type: str, entity_id: int) -> CrmEntityLink | None:
        return s.scalars(_BY_LOCAL, self._params(entity_type, entity_id)).first()

    def by_external(self, s: Session, entity_type: str, external_id: str) -> CrmEntityLink | None:
        return s.scalars(_BY_EXTERNAL, self._params(entity_type, str(external_id))).first()

    def many_by_external(self, s: Session, entity_type: str, external_ids: Iterable[str]) -> dict[str, CrmEntityLink]:
        ids = [str(e) for e in external_ids]
        return self._many(s, entity_type, CrmEntityLink.external_id, ids, lambda link: link.external_id)

    def many_by_local(self, s: Session, entity_type: str, entity_ids: Iterable[int]) -> dict[int, CrmEntityLink]:
        return self._many(s, entity_type, CrmEntityLink.entity_id, list(entity_ids), lambda link: link.entity_id)

    def _many(
        self, s: Session, entity_type: str, column: Any, keys: list[K], key: Callable[[CrmEntityLink], K]
    ) -> dict[K, CrmEntityLink]:
        """The links whose ``column`` is one of ``keys``, by key (queried 500 at a time)."""
        ids = list(dict.fromkeys(keys))
        out: dict[K, CrmEntityLink] = {}
        for start in range(0, len(ids), 500):
            for link in s.scalars(self._base(entity_type).where(column.in_(ids[start : start + 500]))):
                out[key(link)] = link
        return out

    def all_links(self, s: Session, entity_type: str) -> list[CrmEntityLink]:
        return list(s.scalars(self._base(entity_type)))

    def _columns(self, entity_type: str, *cols: Any) -> Any:
        return select(*cols).where(
            CrmEntityLink.id_loja == self.id_loja,
            CrmEntityLink.provider == self.provider,
            CrmEntityLink.entity_type == entity_type,
        )

    def count_active(self, s: Session, entity_type: str) -> int:
        return int(
            s.scalar(
                self._columns(entity_type, func.count(CrmEntityLink.id)).where(
                    CrmEntityLink.status.in_(ACTIVE_STATUSES)
                )
            )
            or 0
        )

    def active_missing_from(
        self, s: Session, entity_type: str, present: Container[str], created_before: datetime
    ) -> list[tuple[int, str]]:
        """(link id, external id) of the active links created before ``created_before``
        whose external id is not in ``present``. Streamed and filtered as read: a 100k
        store's links held at once (ids, external ids, timestamps) were most of a full
        pull's peak memory."""
        stmt = self._columns(entity_type, CrmEntityLink.id, CrmEntityLink.external_id).where(
            CrmEntityLink.status.in_(ACTIVE_STATUSES), CrmEntityLink.cadastrado_em < created_before
        )
        rows: Iterable[Any] = s.execute(stmt.execution_options(yield_per=2000))
        return [(int(row[0]), str(row[1])) for row in rows if str(row[1]) not in present]

    def linked_local_ids(self, s: Session, entity_type: str) -> set[int]:
        rows: list[Any] = list(s.execute(self._columns(entity_type, CrmEntityLink.entity_id)))
        return {int(r[0]) for r in rows}

    def new_link(
        self,
        entity_type: str,
        entity_id: int,
        external_id: str,
        *,
        base: dict[str, Any] | None,
        local_hash: str | None,
        remote_version: str | None,
        remote_modified_at: datetime | None,
    ) -> CrmEntityLink:
        return CrmEntityLink(
            id_loja=self.id_loja,
            id_integracao=self.id_integracao,
            provider=self.provider,
            entity_type=entity_type,
            entity_id=entity_id,
            external_id=str(external_id),
            base_snapshot=base,
            base_hash=canonical_hash(base) if base is not None else None,
            local_hash=local_hash,
            remote_version=remote_version,
            remote_modificado_em=remote_modified_at,
            status="sincronizado",
            sincronizado_em=datetime.now(UTC),
        )

    def insert(self, s: Session, link: CrmEntityLink) -> None:
        """Insert a new link with one Core INSERT and no savepoint (the link object stays
        out of the session): a unique violation fails the caller's transaction with
        IntegrityError, and the caller tries again with :meth:`create`. For the hot path
        that expects no race (a job's create), where the savepoint's two round trips and
        the ORM's flush were most of linking."""
        values = {key: link.__dict__[key] for key in _LINK_COLUMNS if link.__dict__.get(key) is not None}
        s.execute(_INSERT_LINK, values)

    def create(self, s: Session, link: CrmEntityLink) -> CrmEntityLink:
        """Insert the link inside a savepoint; on a unique violation answer with the link
        that exists (raising :class:`LinkTaken` when it pairs different records)."""
        try:
            with s.begin_nested():
                s.add(link)
                s.flush()
            return link
        except IntegrityError:
            existing = self.by_local(s, link.entity_type, link.entity_id) or self.by_external(
                s, link.entity_type, link.external_id
            )
            if existing is None:
                raise
            if existing.entity_id == link.entity_id and existing.external_id == link.external_id:
                return existing
            raise LinkTaken(existing) from None
