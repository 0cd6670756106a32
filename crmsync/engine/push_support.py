"""Push's building blocks: the checks of a staged push (what must not move while the CRM
is called), skips, local deletes, and the first attach's index of the CRM
(crmsync.engine.attach) that spares a look-up per row.

Split from :mod:`crmsync.engine.push`, which keeps the push itself (candidates, one row
staged, creates and links, sales)."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy.orm import Session

from crmsync.db.sync import CrmEntityLink
from crmsync.engine.attach import RemoteIndex, build_index
from crmsync.engine.base import EngineBase, RemoteWriteNeeded
from crmsync.engine.intents import intent_base
from crmsync.engine.results import PushResult, PushSummary
from crmsync.erp.table import ConcurrentChange
from crmsync.matching import ignored_keys
from crmsync.providers.base import (
    AuthError,
    NotFoundError,
    ProviderError,
    RemoteRecord,
    error_message,
)

logger = structlog.get_logger("crmsync.engine.push")

__all__ = ["PushSupportMixin"]

_LINK_CHUNK = 250  # a first attach's matches linked per transaction


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
            report["matches"] = sum(1 for i in summary.itens if i.operacao == "link")
            report["creates"] = sum(1 for i in summary.itens if i.operacao == "create")
        self.progress(report)

    def _index_remote(self, entity_type: str) -> str | None:
        """First attach: list the CRM once and index its unlinked records by unique key, so
        each unlinked row is linked or created with no look-up of its own. A listing that
        fails leaves no index: the rows are looked up one by one, as before, except in a dry
        run (the plan alone: no look-up per row) or when the credentials were refused; then
        the listing's error is returned and the push stops with it."""
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
            if self.dry_run or isinstance(exc, AuthError):
                return f"a listagem do CRM falhou: {error_message(exc)}"
        return None

    def _link_matches(self, entity_type: str, candidates: list[int]) -> list[PushResult]:
        """A first attach's matches applied in chunks (one transaction per chunk, no CRM
        call): each unlinked row whose keys the listing holds is linked to that record and
        merged with the listed copy. A row whose merge needs a CRM write keeps its new link
        and is left to the per-row push (which writes it with no transaction open); rows
        with no match are left to it too (created there, with no look-up)."""
        index = self._attach_index[entity_type]
        out: list[PushResult] = []
        for start in range(0, len(candidates), _LINK_CHUNK):
            chunk = candidates[start : start + _LINK_CHUNK]
            with self._uow() as s:
                links = self.binder.many_by_local(s, entity_type, chunk)
                for entity_id in chunk:
                    result = self._link_match(s, entity_type, entity_id, index, linked=entity_id in links)
                    if result is not None:
                        out.append(result)
                        self.failed.succeeded(
                            s, entity_type=entity_type, direcao="push", entity_id=entity_id, external_id=None
                        )
        return out

    def _link_match(
        self, s: Session, entity_type: str, entity_id: int, index: RemoteIndex, *, linked: bool
    ) -> PushResult | None:
        row = None if linked else self.repo.get(s, entity_type, entity_id)
        if row is None or row.deletado_em is not None:
            return None
        try:
            local_ext = self._local_ext(s, entity_type, row)
            pos = index.position(local_ext)
            if pos is None or index.is_claimed(pos):
                return None  # created, or reported as a duplicate, by the per-row push
            found = index.find(local_ext)
        except ValueError:
            return None
        assert found is not None
        with s.begin_nested():
            if self.binder.by_external(s, entity_type, found.external_id) is not None:
                return None  # linked to another row meanwhile: the per-row push says so
            link = self._link_found(s, entity_type, entity_id, found)
        try:
            out = self._reconcile(s, entity_type, link, row, found, direcao="push", remote_writes=False)
        except RemoteWriteNeeded:
            return None  # linked; its CRM write goes through the per-row push
        message = f"{out.conflicts} campo(s) em conflito aguardando decisão" if out.conflicts else None
        return PushResult(True, "link", found.external_id, entity_id, conflitos=out.conflicts, message=message)

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
        self.log.add(
            direcao="push",
            operacao="link",
            entity_type=entity_type,
            status="sucesso",
            entity_id=entity_id,
            external_id=external_id,
            mensagem=(
                "criado por esta integração (resposta perdida): vínculo criado"
                if base is not None
                else "já existia no CRM (mesma chave única): vínculo criado"
            ),
        )
        return link

    def _find_by_keys(self, entity_type: str, local_ext: dict[str, Any]) -> RemoteRecord | None:
        """The CRM record holding the row's unique keys: from the first attach's listing
        when there is one (no request), else one look-up."""
        index = self._attach_index.get(entity_type)
        if index is not None:
            return index.find(local_ext)
        return self.provider.find_by_keys(entity_type, local_ext)

    def _push_delete_staged(
        self, entity_type: str, entity_id: int, external_id: str, seen: tuple[Any, ...]
    ) -> PushResult | None:
        """A local delete to propagate (policy delete or deactivate): the CRM is called with
        no transaction open, then the link is marked in a short one if nothing moved (a row
        restored meanwhile goes back through the whole push: None)."""
        policy = self.config.entity(entity_type).delete_remoto
        operacao = policy
        remote: RemoteRecord | None = None
        if policy == "delete":
            with contextlib.suppress(NotFoundError):  # already gone: the goal is reached
                self.provider.delete(entity_type, external_id)
        else:
            try:
                remote = self.provider.deactivate(entity_type, external_id)
                operacao = "deactivate"
            except NotFoundError:
                operacao = "delete"
        with self._uow() as s:
            row = self.repo.get(s, entity_type, entity_id)
            link = self.binder.by_local(s, entity_type, entity_id)
            if link is None or not self._unmoved(entity_type, row, link, seen):
                return None
            if remote is not None:
                link.remote_version = remote.version
                link.remote_modificado_em = remote.modified_at
            link.status = "excluido_local" if operacao == "delete" else "desativado"
            link.sincronizado_em = datetime.now(UTC)
            self.log.add(
                direcao="push",
                operacao=operacao,
                entity_type=entity_type,
                status="sucesso",
                entity_id=entity_id,
                external_id=external_id,
                mensagem="excluído localmente",
            )
        return PushResult(True, operacao, external_id, entity_id)

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

    def _push_skip(self, entity_type: str, entity_id: int, external_id: str | None, message: str) -> PushResult:
        self.log.add(
            direcao="push",
            operacao="skip",
            entity_type=entity_type,
            status="ignorado",
            entity_id=entity_id,
            external_id=external_id,
            mensagem=message,
        )
        return PushResult(True, "skip", external_id, entity_id, message=message)

    @staticmethod
    def _conflict_message(count: int) -> str | None:
        return f"{count} campo(s) em conflito aguardando decisão" if count else None

    # ------------------------------------------------------------------ local deletes

    def _push_local_delete(self, s: Session, entity_type: str, row: Any, link: Any) -> PushResult:
        if link is None or not self._is_active(link):
            return self._push_skip(
                entity_type, row.id, link.external_id if link else None, "excluído localmente; nada a propagar"
            )
        policy = self.config.entity(entity_type).delete_remoto
        ext = link.external_id
        if policy == "ignore":
            link.status = "excluido_local"
            return self._push_skip(entity_type, row.id, ext, "excluído localmente; política: ignorar")
        if policy == "conflict":
            self._delete_conflict(s, entity_type, link, row, lado="local", when=row.deletado_em)
            self.log.add(
                direcao="conflito",
                operacao="conflict",
                entity_type=entity_type,
                status="conflito",
                entity_id=row.id,
                external_id=ext,
                mensagem="excluído localmente; aguardando decisão",
            )
            return PushResult(True, "conflict", ext, row.id, conflitos=1, message="exclusão aguardando decisão")
        operacao = "delete" if policy == "delete" else "deactivate"
        if self.dry_run:
            self._plan("externo", operacao, entity_type, entity_id=row.id, external_id=ext)
        elif policy == "delete":
            with contextlib.suppress(NotFoundError):  # already gone: the goal is reached
                self.provider.delete(entity_type, ext)
        else:
            try:
                remote = self.provider.deactivate(entity_type, ext)
                link.remote_version = remote.version
                link.remote_modificado_em = remote.modified_at
            except NotFoundError:
                operacao = "delete"
        link.status = "excluido_local" if operacao == "delete" else "desativado"
        link.sincronizado_em = datetime.now(UTC)
        self.log.add(
            direcao="push",
            operacao=operacao,
            entity_type=entity_type,
            status="sucesso",
            entity_id=row.id,
            external_id=ext,
            mensagem="excluído localmente",
        )
        return PushResult(True, operacao, ext, row.id)
