"""Push: local -> external (spec section 2, hardened): gather, decide, then apply.

Which rows: one named row, the rows modified since a time (`--since 24h`), or every *dirty*
row: no link yet, a canonical hash different from the one stored on the link (so a row
changed directly in the database by another program is found too), or a soft delete not
yet propagated. Per row, one path for single pushes, batches, deletes, skips and a venda's
dependencies (its cliente and produtos first):

* gather (:meth:`PushMixin._gather`): the row, its link and base in a short read, then with
  no transaction open what the CRM holds: the linked record (one GET), or for an unlinked
  row the record holding its unique keys (from the first attach's listing, else one look-up:
  a retry after a create whose answer was lost finds it instead of creating a duplicate);
* decide (:func:`crmsync.engine.decide.decide_push`, pure): link, create, merge (update
  either side, or a conflict), delete, or skip;
* apply (:mod:`crmsync.engine.push_apply`): the CRM write with no transaction open, then a
  short transaction that applies the local side if nothing moved meanwhile (else the record
  is gathered and decided again). A dry run reports the decision instead.
"""

from __future__ import annotations

import contextlib
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from crmsync.engine.attach import ATTACH_INDEX_MIN_ROWS, ATTACH_KEYS
from crmsync.engine.base import PartialWrite
from crmsync.engine.decide import PushState, decide_push
from crmsync.engine.push_apply import PushApplyMixin, RowGone
from crmsync.engine.results import PushResult, PushSummary
from crmsync.engine.scan import scan_local
from crmsync.erp.table import erp_now
from crmsync.providers.base import AuthError, NotFoundError, RemoteRecord, error_message

__all__ = ["DependencyError", "PushMixin"]


_STAGED_ROUNDS = 5  # reads of a record that keeps moving before the push gives up (retried later)


class DependencyError(Exception):
    """A venda's cliente or produto could not be synced first."""


class PushMixin(PushApplyMixin):
    # Set when a push was refused for the integration's credentials (see push_one).
    _credentials_refused: AuthError | None = None

    def push_one(self, entity_type: str, entity_id: int) -> PushResult:
        started = time.perf_counter()
        first_plan = len(self.planned)
        error: Exception | None = None
        try:
            if entity_type == "venda":
                self._push_dependencies(entity_id, started)
            result = self._push_record(entity_type, entity_id, started)
        except PartialWrite as exc:
            # Applied and logged already (the fields taken advanced, the refused ones did not):
            # the item fails so a person sees which field the CRM would not store.
            result = PushResult(False, exc.operacao, exc.external_id, entity_id, message=str(exc))
        except RowGone as exc:
            # An item left by an earlier attempt has nothing left to retry: it is done.
            result = PushResult(False, "erro", None, entity_id, message=str(exc), gone=True)
        except Exception as exc:
            result = PushResult(False, "erro", None, entity_id, message=error_message(exc))
            result.note_exception(exc)
            error = exc
        if result.success and not self.options.close_items:
            # Nothing to record: the caller closes the item (a job), the log row is written.
            result.planned = self.planned[first_plan:]
            return result
        with self._uow() as s:
            changed_at = None
            if error is not None:
                link = self.binder.by_local(s, entity_type, entity_id)
                result.external_id = link.external_id if link else None
                self.log.error(
                    "push",
                    entity_type,
                    result.message,
                    entity_id=entity_id,
                    external_id=result.external_id,
                    duracao_ms=int((time.perf_counter() - started) * 1000),
                )
                with contextlib.suppress(Exception):  # only a hint for an ignored item
                    changed_at = getattr(self.repo.get(s, entity_type, entity_id), "modificado_em", None)
            if isinstance(error, AuthError):
                # The integration's credentials, not this record: one error for the run
                # (push stops), no failed item per record to retry or ignore one by one.
                self._credentials_refused = error
            elif result.success or result.gone:
                self.failed.succeeded(
                    s, entity_type=entity_type, direcao="push", entity_id=entity_id, external_id=result.external_id
                )
            else:
                self.failed.failed(
                    s,
                    entity_type=entity_type,
                    direcao="push",
                    entity_id=entity_id,
                    external_id=result.external_id,
                    error=result.message or "",
                    changed_at=changed_at,
                )
        result.planned = self.planned[first_plan:]
        return result

    def push(
        self, entity_type: str, *, since: timedelta | None = None, ids: list[int] | None = None, all_rows: bool = False
    ) -> PushSummary:
        summary = PushSummary()
        if self.config.direction(entity_type) == "pull":
            return summary
        if entity_type not in self.provider.capabilities.entities:  # SuiteCRM: no vendas
            return summary
        explicit = ids is not None
        candidates, deletes, unlinked = self._push_candidates(entity_type, since=since, ids=ids, all_rows=all_rows)
        self._attach_index.pop(entity_type, None)
        # A dry run is the plan alone: it never looks a row up, so any unlinked row makes it
        # list the CRM once (as a first attach does), and a failed listing stops it.
        plan_only = self.options.dry_run
        if entity_type in ATTACH_KEYS and (unlinked >= ATTACH_INDEX_MIN_ROWS or (plan_only and unlinked)):
            failed = self._index_remote(entity_type)
            if failed is not None and (plan_only or isinstance(failed, AuthError)):
                message = f"a listagem do CRM falhou: {error_message(failed)}"
                with self._uow() as s:
                    self.log.error("push", entity_type, message)
                summary.add(PushResult(False, "erro", None, None, message=message))
                return summary
        if deletes and not explicit:
            with self._uow() as s:
                total = self.binder.count_active(s, entity_type)
            blocked = self._mass_delete_blocked(len(deletes), total)
            if blocked:
                with self._uow() as s:
                    self.log.error("push", entity_type, blocked, operacao="delete")
                summary.add(PushResult(False, "erro", None, None, message=blocked))
                deletes = []
        self._credentials_refused = None
        try:
            done: set[int] = set()
            if entity_type in self._attach_index and not plan_only:  # the plan lists each row's link
                for item in self._link_matches(entity_type, candidates):
                    summary.add(item)
                    done.add(int(item.entity_id or 0))
                self._report_push(entity_type, summary)
            for entity_id in [*candidates, *deletes]:
                if entity_id in done:
                    continue
                summary.add(self.push_one(entity_type, entity_id))
                if self._credentials_refused is not None:
                    break  # every other record would be refused the same way
                self._report_push(entity_type, summary)
        finally:
            self._attach_index.pop(entity_type, None)
        return summary

    def _push_candidates(
        self, entity_type: str, *, since: timedelta | None, ids: list[int] | None, all_rows: bool
    ) -> tuple[list[int], list[int], int]:
        """(rows to merge or create, deleted rows whose delete must propagate, how many of
        the former have no link yet): a streamed scan of the mapped table (see
        crmsync.engine.scan); a row the ERP hard-deleted shows as a link whose key vanished
        and is pushed as a delete."""
        ent = self.repo.entity(entity_type)
        candidates: list[int] = []
        deletes: list[int] = []
        unlinked = 0
        with self.session_factory() as s:
            since_at = self._since_on_clock(s, ent, since) if since is not None and ids is None else None
            for hit in scan_local(
                s,
                ent,
                id_loja=self.id_loja,
                provider=self.provider_name,
                ids=ids,
                since=since_at,
                report_equal=all_rows or since is not None,
            ):
                if hit.kind in ("excluido", "sumiu"):
                    deletes.append(hit.entity_id)
                else:
                    candidates.append(hit.entity_id)
                    unlinked += hit.kind == "novo"
        return candidates, deletes, unlinked

    @staticmethod
    def _since_on_clock(s: Session, ent: Any, since: timedelta) -> datetime:
        """`--since 24h` on the clock the modified column was stamped with: ours (UTC) on our
        own tables, the ERP database's own "now" on an ERP's table (its PHP stamps local
        time: measured from UTC, a Brazilian ERP's window would be three hours short)."""
        if ent.own_clock:
            return datetime.now(UTC) - since
        now = erp_now(s, ent.table)
        return (now if now is not None else datetime.now(UTC)) - since

    # ------------------------------------------------------------------ one record

    def _push_record(self, entity_type: str, entity_id: int, started: float) -> PushResult:
        """Gather, decide, then apply one record (a dry run reports the decision instead).
        Applied with no transaction open while the CRM is called: a CRM that hangs holds no
        database lock, so other stores (and this one's users) keep writing. A record that
        moved while the CRM was called is gathered and decided again, with what the CRM
        answered (a link just made, a write just done) instead of reading it again."""
        known: RemoteRecord | None = None  # the CRM's record as this push last saw it
        linked_now = False  # linked by this push to a record found by its keys
        for _round in range(_STAGED_ROUNDS):
            state = self._gather(entity_type, entity_id, known)
            decision = decide_push(state)
            if self.options.dry_run:
                return self._report(state, decision)
            applied = self._apply(state, decision, started)
            if isinstance(applied, PushResult):
                if linked_now and applied.operacao in ("update", "skip", "conflict"):
                    applied.operacao = "link"
                return applied
            linked_now = linked_now or (decision.action == "link" and applied is not None)
            known = applied
        raise RuntimeError("o registro mudou a cada tentativa durante o envio; será tentado de novo")

    def _gather(self, entity_type: str, entity_id: int, known: RemoteRecord | None) -> PushState:
        """What the decision needs: the row, its link and base in a short read; then, with
        no transaction open, the CRM's side: ``known`` (what this push last saw of it), the
        linked record, or the record holding an unlinked row's unique keys."""
        with self._read() as s:
            state = self._read_state(s, entity_type, entity_id, intent=False)
        if not state.live or state.local_ext is None:
            return state
        if not state.linked:
            found = self._find_by_keys(entity_type, state.local_ext)
            if found is not None:  # is it ours? the intent of a create whose answer was lost says
                with self._read() as s:
                    state.intent = self.intents.get(s, entity_type, entity_id)
            self._know_remote(state, found)
        elif known is not None:
            self._know_remote(state, known)
        else:
            try:
                self._know_remote(state, self.provider.get(entity_type, str(state.link_external_id)))
            except NotFoundError:
                state.remote_gone = True
        return state

    # ------------------------------------------------------------------ sales

    def _push_dependencies(self, venda_id: int, started: float) -> None:
        """A live venda's cliente and produtos pushed first (parents before children), each
        the way any record is. Which ones need it is read in a short look; a venda deleted
        or unlinked meanwhile pushes none (a delete never pushes its dependencies)."""
        with self._read() as s:
            venda = self.repo.get(s, "venda", venda_id)
            if venda is None or venda.deletado_em is not None:
                return
            link = self.binder.by_local(s, "venda", venda_id)
            if link is not None and not self._is_active(link):
                return
            needed = self._dependencies_to_push(s, venda)
        for dep_type, dep_id in needed:
            try:
                result = self._push_record(dep_type, dep_id, started)
            except AuthError:
                raise  # the integration's credentials: push_one stops the run with one error
            except Exception as exc:
                result = PushResult(False, "erro", None, dep_id, message=error_message(exc))
                cause: Exception | None = exc
            else:
                cause = None
            if not result.success:
                raise DependencyError(
                    f"{dep_type} #{dep_id} da venda #{venda_id} não pôde ser sincronizado: {result.message}"
                ) from cause

    def _dependencies_to_push(self, s: Session, venda: Any) -> list[tuple[str, int]]:
        """The venda's cliente and produtos that are not linked and clean yet; a missing,
        read-only unlinked or CRM-deleted one is a :class:`DependencyError`."""
        canon = self.repo.canon("venda", venda)
        needed = [("cliente", int(canon["cliente_id"]))] + [("produto", int(i["produto_id"])) for i in canon["itens"]]
        todo: list[tuple[str, int]] = []
        for dep_type, dep_id in dict.fromkeys(needed):
            dep = self.repo.get(s, dep_type, dep_id)
            if dep is None:
                raise DependencyError(f"{dep_type} #{dep_id} da venda #{venda.id} não existe nesta loja")
            link = self.binder.by_local(s, dep_type, dep_id)
            if link is not None and link.status in ("sincronizado", "conflito"):
                try:
                    if self.repo.row_hash(dep_type, dep) == link.local_hash:
                        continue
                except ValueError:
                    pass
            if self.config.direction(dep_type) == "pull":
                if link is not None:
                    continue
                raise DependencyError(
                    f"{dep_type} #{dep_id} da venda #{venda.id} não tem vínculo com o CRM "
                    f"e {dep_type}s são somente leitura (direção pull)"
                )
            if link is not None and not self._is_active(link):
                raise DependencyError(f"{dep_type} #{dep_id} da venda #{venda.id} foi excluído no CRM")
            todo.append((dep_type, dep_id))
        return todo
