"""Push, the apply step: one staged way for every decision (#18 "decide, then apply").

A decision (:func:`crmsync.engine.decide.decide_push`) is applied with no transaction open
while the CRM is called: the CRM write first (a create, an update, a delete or deactivate),
then a short transaction that checks the row and its link did not move since they were read
(:meth:`PushSupportMixin._unmoved`) and applies the local side (the link, the base, the
row, a conflict, the log). A decision with no CRM write is only that transaction.

A dry run applies nothing: :meth:`PushApplyMixin._report` lists the decision's writes
(:func:`crmsync.engine.decide.plan_entries`) and writes the log rows the apply step would
write, marked as simulated.
"""

from __future__ import annotations

import contextlib
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crmsync.engine.attach import RemoteIndex
from crmsync.engine.base import DecidedMerge, Outcome, PartialWrite
from crmsync.engine.decide import PushDecision, PushState, decide_push, merge_operation, plan_entries, push_log
from crmsync.engine.intents import describe_refused, intent_base, refused_fields
from crmsync.engine.links import LinkTaken
from crmsync.engine.local_repo import UnresolvedReference
from crmsync.engine.push_support import PushSupportMixin
from crmsync.engine.results import PushResult
from crmsync.providers.base import NotFoundError, ProviderError, RemoteRecord, ValidationError

__all__ = ["PushApplyMixin", "RowGone"]

_LINK_CHUNK = 250  # a first attach's matches linked per transaction


class RowGone(LookupError):
    """The local row is not there and was never synced: nothing exists on either side to push.

    The ERP deleted a row before crmsync first pushed it (or the id never existed). A queued
    job for it is then done, not failed: retrying can never succeed, and a failed item would
    ask a person about a record nobody has any more."""


DELETE_WAITS = "exclusão aguardando decisão"


class PushApplyMixin(PushSupportMixin):
    def _apply(self, state: PushState, decision: PushDecision, started: float) -> PushResult | RemoteRecord | None:
        """Apply one decision the staged way. A :class:`PushResult` when done; the CRM's
        record when the record must be decided again with it (linked to it now, or written
        while the row moved); None when the row or its link moved before anything was
        applied (read both sides again)."""
        if state.unresolved is not None:
            raise state.unresolved  # a real run pushed the venda's dependencies first: still unlinked
        action = decision.action
        if action == "create":
            return self._apply_create(state, decision, started)
        if action in ("delete", "deactivate"):
            return self._apply_delete(state, decision)
        if action == "skip":
            with self._uow():
                return self._push_skip(state, decision)
        decided: DecidedMerge | None = None
        written = bool(decision.send) and action == "merge"  # a linked record's CRM write
        if decision.merge is not None and state.remote is not None and state.local_ext is not None:
            decided = DecidedMerge(decision.merge, state.local_ext, state.remote)
            if written:
                answer = self.provider.update(
                    state.entity_type, str(state.external_id), decision.send, current=state.remote
                )
                decided = DecidedMerge(
                    decision.merge, state.local_ext, answer, refused_fields(decision.send, answer.data)
                )
        with self._uow() as s:
            applied = self._apply_local(s, state, decision, decided, written=written)
        if isinstance(applied, Outcome):
            external_id = applied.remote.external_id if applied.remote is not None else None
            operacao = "link" if action == "link" else applied.operacao
            return self._staged_result(applied, operacao, external_id or str(state.external_id), state.entity_id)
        return applied

    def _apply_local(
        self, s: Session, state: PushState, decision: PushDecision, decided: DecidedMerge | None, *, written: bool
    ) -> Outcome | PushResult | RemoteRecord | None:
        """A decision's local side, in the caller's transaction, if the row and its link did
        not move since they were read (else None, or the CRM's answer when it was written:
        decide again with it). A merge's :class:`Outcome`; the record found when a link was
        made whose merge must still write to the CRM."""
        action = decision.action
        row, link = self._current(s, state.entity_type, state.entity_id)
        if not self._unmoved(state.entity_type, row, link, state.seen):
            return decided.remote if decided is not None and written else None
        if action == "ignore_delete":
            link.status = "excluido_local"
            return self._push_skip(state, decision)
        if action == "delete_conflict":
            self._delete_conflict(s, state.entity_type, link, row, lado="local", when=row.deletado_em)
            self.log.add(**push_log(state, decision))
            return PushResult(True, "conflict", link.external_id, row.id, conflitos=1, message=DELETE_WAITS)
        if action == "remote_gone":
            op = self._apply_remote_delete(s, state.entity_type, link, row, direcao="push")
            return PushResult(True, op, link.external_id, row.id, message=decision.why)
        assert decided is not None
        if action == "link":
            link = self._link_found(s, state.entity_type, state.entity_id, decided.remote)
            if decision.send:
                return decided.remote  # linked: its CRM write is decided again as a linked record's
        return self._reconcile(s, state.entity_type, link, row, decided.remote, direcao="push", decided=decided)

    def _link_matches(self, entity_type: str, candidates: list[int]) -> list[PushResult]:
        """A first attach's matches, applied in chunks (one transaction per chunk, no CRM
        call): each unlinked row whose keys the listing holds is decided and applied as any
        push's is, linked to that record and merged with the listed copy. A row whose merge
        needs a CRM write keeps its new link and is left to the per-row push (which writes
        it with no transaction open); rows with no match are left to it too (created there,
        with no look-up)."""
        index = self._attach_index[entity_type]
        out: list[PushResult] = []
        for start in range(0, len(candidates), _LINK_CHUNK):
            chunk = candidates[start : start + _LINK_CHUNK]
            with self._uow() as s:
                for entity_id in chunk:
                    result = self._link_match(s, entity_type, entity_id, index)
                    if result is not None:
                        out.append(result)
                        self.failed.succeeded(
                            s, entity_type=entity_type, direcao="push", entity_id=entity_id, external_id=None
                        )
        return out

    def _link_match(self, s: Session, entity_type: str, entity_id: int, index: RemoteIndex) -> PushResult | None:
        try:
            state = self._read_state(s, entity_type, entity_id)
            if not state.live or state.linked or state.local_ext is None:
                return None
            pos = index.position(state.local_ext)
            if pos is None or index.is_claimed(pos):
                return None  # created, or reported as a duplicate, by the per-row push
            found = index.find(state.local_ext)
        except (ValueError, RowGone):
            return None
        assert found is not None
        if self.binder.by_external(s, entity_type, found.external_id) is not None:
            return None  # linked to another row meanwhile: the per-row push says so
        self._know_remote(state, found)
        decision = decide_push(state)
        try:
            with s.begin_nested():
                decided = DecidedMerge(decision.merge, state.local_ext, found) if decision.merge else None
                applied = self._apply_local(s, state, decision, decided, written=False)
        except Exception:
            return None  # the per-row push meets it again and says why
        if not isinstance(applied, Outcome):
            return None  # linked; its CRM write goes through the per-row push
        message = self._conflict_message(applied.conflicts)
        return PushResult(True, "link", found.external_id, entity_id, conflitos=applied.conflicts, message=message)

    def _staged_result(self, out: Outcome, operacao: str, external_id: str, entity_id: int) -> PushResult:
        """What a staged push applied; a write the CRM did not fully store fails the item."""
        if out.refused:
            raise PartialWrite(out.message or "gravação parcial", operacao="update", external_id=external_id)
        return PushResult(
            True,
            operacao,
            external_id,
            entity_id,
            conflitos=out.conflicts,
            message=self._conflict_message(out.conflicts),
        )

    def _apply_create(self, state: PushState, decision: PushDecision, started: float) -> PushResult | None:
        """Create the record on the CRM, then link it in a short transaction. Before the
        create, what is sent is stored durably (the create's intent): if its answer is lost,
        the retry finds the record by its keys and recognises it as ours. None: another run
        linked the row meanwhile (ours, a duplicate, is deleted): decide again."""
        entity_type, entity_id, local_ext = state.entity_type, state.entity_id, decision.send
        with self._uow() as s:
            self.intents.record(s, entity_type, entity_id, local_ext)
        try:
            remote = self.provider.create(entity_type, local_ext)
        except ValidationError:
            with self._uow() as s:  # refused: nothing was created, nothing to recognise later
                self.intents.drop(s, entity_type, entity_id)
            raise
        refused = refused_fields(local_ext, remote.data)
        if entity_type in self._attach_index:
            self._attach_index[entity_type].add_created(remote)
        try:
            duplicate = self._link_created(state, decision, remote, refused, started, quick=True)
        except IntegrityError:
            # Another run linked this row or this record meanwhile: again, the careful way.
            duplicate = self._link_created(state, decision, remote, refused, started, quick=False)
        if duplicate:
            # Another run linked this row meanwhile: ours is a duplicate on the provider.
            with contextlib.suppress(ProviderError):
                self.provider.delete(entity_type, remote.external_id)
            return None
        if refused:
            raise PartialWrite(
                describe_refused(self.crm_name, refused), operacao="create", external_id=remote.external_id
            )
        return PushResult(True, "create", remote.external_id, entity_id)

    def _link_created(
        self,
        state: PushState,
        decision: PushDecision,
        remote: RemoteRecord,
        refused: dict[str, tuple[Any, Any]],
        started: float,
        *,
        quick: bool,
    ) -> bool:
        """Link the row to the record just created, in one short transaction: the intent
        dropped, the link made, the log row written; True when another run had linked the
        row meanwhile (ours is a duplicate). ``quick``: the link is inserted with no
        savepoint, and a unique violation (IntegrityError) rolls it all back for the caller
        to try again the careful way, which finds the link that exists and says whose it is."""
        entity_type, entity_id, local_ext = state.entity_type, state.entity_id, decision.send
        with self._uow() as s:
            row_exists = self.repo.exists(s, entity_type, entity_id)
            self.intents.drop(s, entity_type, entity_id)
            link = self.binder.new_link(
                entity_type,
                entity_id,
                remote.external_id,
                # a field the CRM did not store keeps the CRM's value as base: still to send
                base={**remote.data, **{k: v for k, v in local_ext.items() if k not in refused}},
                # the fingerprint of what was sent: a change made meanwhile shows as dirty
                local_hash=state.seen[0],
                remote_version=remote.version,
                remote_modified_at=remote.modified_at,
            )
            try:
                if quick:
                    self.binder.insert(s, link)
                else:
                    self.binder.create(s, link)
            except LinkTaken as taken:
                if taken.existing.external_id == remote.external_id:
                    # The CRM answered with a record another local row is linked to (a create
                    # whose answer was lost, matched to an identical twin): not ours to link,
                    # and certainly not ours to delete.
                    raise ValueError(
                        f"o registro {remote.external_id} do CRM já está vinculado ao registro local "
                        f"#{taken.existing.entity_id} e é idêntico a este: possível duplicata, revise os dados"
                    ) from None
                duplicate = True
            else:
                duplicate = False
                message = describe_refused(self.crm_name, refused) if refused else None
                row_log = {**push_log(state, decision), "external_id": remote.external_id}
                if message:
                    row_log.update(status="erro", mensagem=f"gravação parcial: {message}")
                self.log.add(**row_log, duracao_ms=int((time.perf_counter() - started) * 1000))
            if not row_exists:
                raise LookupError(f"{entity_type} #{entity_id} não encontrado nesta loja")
        return duplicate

    def _apply_delete(self, state: PushState, decision: PushDecision) -> PushResult | None:
        """A local delete to propagate (policy delete or deactivate): the CRM is called with
        no transaction open, then the link is marked in a short one if nothing moved (a row
        restored meanwhile is decided again: None)."""
        entity_type, external_id = state.entity_type, str(state.external_id)
        operacao = decision.action
        remote: RemoteRecord | None = None
        if operacao == "delete":
            with contextlib.suppress(NotFoundError):  # already gone: the goal is reached
                self.provider.delete(entity_type, external_id)
        else:
            try:
                remote = self.provider.deactivate(entity_type, external_id)
            except NotFoundError:
                operacao = "delete"
        with self._uow() as s:
            row, link = self._current(s, entity_type, state.entity_id)
            if link is None or not self._unmoved(entity_type, row, link, state.seen):
                return None
            if remote is not None:
                link.remote_version = remote.version
                link.remote_modificado_em = remote.modified_at
            link.status = "excluido_local" if operacao == "delete" else "desativado"
            link.sincronizado_em = datetime.now(UTC)
            self.log.add(**push_log(state, decision, operacao))
        return PushResult(True, operacao, external_id, state.entity_id)

    def _push_skip(self, state: PushState, decision: PushDecision) -> PushResult:
        self.log.add(**push_log(state, decision))
        return PushResult(True, "skip", state.external_id, state.entity_id, message=decision.why)

    # ------------------------------------------------------------------ dry run

    def _report(self, state: PushState, decision: PushDecision) -> PushResult:
        """A dry run's push of one record: the decision alone. Its writes go to the plan and
        the log rows the apply step would write are written, as simulated; no CRM write,
        no other database write."""
        self.planned.extend(plan_entries(state, decision))
        action, merge = decision.action, decision.merge
        with self._uow():
            if merge is None:
                row_log = push_log(state, decision)
                self.log.add(**row_log)
                operacao = str(row_log["operacao"])
                if action == "delete_conflict":
                    return PushResult(
                        True, operacao, state.external_id, state.entity_id, conflitos=1, message=DELETE_WAITS
                    )
                message = decision.why if operacao == "skip" or action == "remote_gone" else None
                return PushResult(True, operacao, state.external_id, state.entity_id, message=message)
            if action == "link":
                self._log_link(state.entity_type, state.entity_id, str(state.external_id), ours=state.ours)
            self._log_merge("push", state.entity_type, state.entity_id, state.external_id, merge)
        conflitos = len(merge.conflicts)
        return PushResult(
            True,
            "link" if action == "link" else merge_operation(merge),
            state.external_id,
            state.entity_id,
            conflitos=conflitos,
            message=self._conflict_message(conflitos),
        )

    # ------------------------------------------------------------------ state

    def _read_state(self, s: Session, entity_type: str, entity_id: int, *, intent: bool = True) -> PushState:
        """A record's local side as the decision needs it, read in the caller's session:
        the row (or a stand-in for one the ERP deleted), its link and merge base, its
        canonical record, and for an unlinked row the intent of a create of ours (unless
        ``intent`` is False: the caller reads it only if the CRM holds a record by its keys,
        the one case it is used)."""
        row, link = self._current(s, entity_type, entity_id)
        if row is None:
            raise RowGone(f"{entity_type} #{entity_id} não encontrado nesta loja")
        entity = self.config.entity(entity_type)
        state = PushState(
            entity_type,
            entity_id,
            deleted=row.deletado_em is not None,
            link_status=link.status if link is not None else None,
            link_external_id=link.external_id if link is not None else None,
            direction=self.config.direction(entity_type),
            delete_remoto=entity.delete_remoto,
            delete_local=entity.delete_local,
            seen=self._fingerprint(entity_type, row, link),
            local_modified_at=row.modificado_em,
        )
        if state.live:
            try:
                state.local_ext = self._local_ext(s, entity_type, row)
            except UnresolvedReference as exc:
                state.unresolved = exc
            if link is not None:
                state.base = self._merge_base(s, entity_type, link)
            elif intent:
                state.intent = self.intents.get(s, entity_type, entity_id)
        return state

    def _know_remote(self, state: PushState, remote: RemoteRecord | None) -> None:
        """The CRM's side of the state: the linked record, or the one holding an unlinked
        row's keys (the base is then what a lost create of ours sent, if it is that one)."""
        state.remote = remote
        if remote is None:
            return
        if not state.linked:
            state.base = intent_base(state.intent, remote.data)
            state.ours = state.base is not None
        state.policy = self._policy(state.entity_type)
        state.ctx = self._ctx(state.entity_type, state.local_modified_at, remote.modified_at)

    def _current(self, s: Any, entity_type: str, entity_id: int) -> tuple[Any, Any]:
        """The row and its link as they are now; a stand-in for a row the ERP deleted while
        its link is active (its delete is pushed)."""
        row = self.repo.get(s, entity_type, entity_id)
        link = self.binder.by_local(s, entity_type, entity_id)
        if row is None and link is not None and self._is_active(link):
            row = self.repo.ghost(entity_type, entity_id)
        return row, link
