"""Push's building blocks: the checks of a staged push (what must not move while the CRM
is called), links to records found by unique key, and the first attach's index of the CRM
(crmsync.engine.attach) that spares a look-up per row, with its batch of links.

Below :mod:`crmsync.engine.push_apply` (the apply step) and :mod:`crmsync.engine.push`
(candidates, gathering and deciding, sales)."""

from __future__ import annotations

from typing import Any

import structlog
from sqlalchemy.orm import Session

from crmsync.db.sync import CrmEntityLink
from crmsync.engine.attach import RemoteIndex, build_index
from crmsync.engine.base import EngineBase
from crmsync.engine.decide import FOUND_BY_KEY
from crmsync.engine.intents import intent_base
from crmsync.engine.results import PushSummary
from crmsync.erp.table import ConcurrentChange
from crmsync.matching import ignored_keys
from crmsync.providers.base import ProviderError, RemoteRecord, error_message

logger = structlog.get_logger("crmsync.engine.push")

__all__ = ["PushSupportMixin"]


def _link_state(link: Any) -> tuple[Any, ...] | None:
    if link is None:
        return None
    return (link.id, link.status, link.base_hash, link.local_hash, link.remote_version, link.sincronizado_em)


class PushSupportMixin(EngineBase):
    # A first attach's listing of the CRM, per entity, while a push runs (crmsync.engine.attach).
    _attach_index: dict[str, RemoteIndex]

    def _report_push(self, entity_type: str, summary: PushSummary) -> None:
        if self.progress is None:
            return
        index = self._attach_index.get(entity_type)
        report: dict[str, Any] = {"records": summary.total, "pages": 0, "quota_left": None, "entity": entity_type}
        if index is not None:
            report["pages"] = index.pages
            report["matches"] = summary.por_operacao["link"]
            report["creates"] = summary.por_operacao["create"]
        self.progress(report)

    def _index_remote(self, entity_type: str) -> ProviderError | None:
        """First attach: list the CRM once and index its unlinked records by unique key, so
        each unlinked row is linked or created with no look-up of its own. A listing that
        fails leaves no index (nothing is decided from a partial one): its error is
        returned, and the caller looks the rows up one by one or stops."""
        with self._read() as s:
            linked = [link.external_id for link in self.binder.all_links(s, entity_type)]

        def pages(done: int, listed: int) -> None:
            if self.progress is not None:
                self.progress(
                    {"records": 0, "pages": done, "listed": listed, "quota_left": None, "entity": entity_type}
                )

        try:
            self._attach_index[entity_type] = build_index(
                self.provider,
                entity_type,
                linked=linked,
                ignored=ignored_keys(self.config.chaves_ignoradas),
                progress=pages,
            )
        except ProviderError as exc:
            logger.warning("first_attach_listing_failed", entity=entity_type, error=error_message(exc))
            return exc
        return None

    def _link_found(self, s: Session, entity_type: str, entity_id: int, found: RemoteRecord) -> CrmEntityLink:
        """Link a local row to the CRM record its unique keys found. The record a lost
        create of ours made (it matches the create's stored intent) is linked with what was
        sent as its base, so the store's later edits are one-sided changes; any other with
        no base: the merge that follows treats both sides as new. Refused when that record
        is already linked to another local row (two local rows with one key: a person must
        look)."""
        external_id = found.external_id
        other = self.binder.by_external(s, entity_type, external_id)
        if other is not None:
            raise ValueError(
                f"o registro {external_id} do CRM tem a mesma chave única e já está vinculado ao "
                f"registro local #{other.entity_id}: possível duplicata, revise os dados"
            )
        base = intent_base(self.intents.take(s, entity_type, entity_id), found.data)
        link = self.binder.create(
            s,
            self.binder.new_link(
                entity_type,
                entity_id,
                external_id,
                base=base,
                local_hash=None,
                remote_version=None,
                remote_modified_at=None,
            ),
        )
        self._log_link(entity_type, entity_id, external_id, ours=base is not None)
        return link

    def _log_link(self, entity_type: str, entity_id: int, external_id: str, *, ours: bool) -> None:
        mensagem = "criado por esta integração (resposta perdida)" if ours else FOUND_BY_KEY
        self.log.success(
            "push",
            "link",
            entity_type,
            entity_id=entity_id,
            external_id=external_id,
            mensagem=f"{mensagem}: vínculo criado",
        )

    def _find_by_keys(self, entity_type: str, local_ext: dict[str, Any]) -> RemoteRecord | None:
        """The CRM record holding the row's unique keys: from the first attach's listing
        when there is one (no request), else one look-up."""
        index = self._attach_index.get(entity_type)
        if index is not None:
            return index.find(local_ext)
        return self.provider.find_by_keys(entity_type, local_ext)

    @staticmethod
    def _conflict_message(count: int) -> str | None:
        return f"{count} campo(s) em conflito aguardando decisão" if count else None

    def _fingerprint(self, entity_type: str, row: Any, link: Any) -> tuple[Any, ...]:
        """What must not move between reading a record and applying the CRM's answer: the
        row as :meth:`crmsync.erp.table.MappedEntity.seen` takes it (first), then its link."""
        return (*self.repo.entity(entity_type).seen(row), _link_state(link))

    def _unmoved(self, entity_type: str, row: Any, link: Any, seen: tuple[Any, ...]) -> bool:
        """In the applying transaction: the link is as it was read, and the row too, checked
        (and locked, on MariaDB/PostgreSQL) by the engine's one before-write check,
        :meth:`crmsync.erp.table.MappedEntity.guard`, against what was read before the CRM
        was called."""
        if row is None or _link_state(link) != seen[-1]:
            return False
        try:
            self.repo.entity(entity_type).guard(row, expected=seen[:-1])
        except ConcurrentChange:
            return False
        return True
