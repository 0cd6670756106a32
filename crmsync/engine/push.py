"""Push: local -> external (spec section 2, hardened).

Which rows: one named row, the rows modified since a time (`--since 24h`), or every *dirty*
row: no link yet, a canonical hash different from the one stored on the link (so a row
changed directly in the database by another program is found too), or a soft delete not
yet propagated. Per row, a short transaction:

* linked -> fetch the current remote record, three-way merge against the base, write only
  the side(s) that need it (``EngineBase._reconcile``);
* not linked -> look the record up on the provider by unique keys first (a retry after a
  create whose answer was lost finds it instead of creating a duplicate), else create; the
  link's unique constraints guard against a concurrent duplicate.
"""

from __future__ import annotations

import contextlib
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from crmsync.engine.attach import ATTACH_INDEX_MIN_ROWS, ATTACH_KEYS
from crmsync.engine.base import Outcome, PartialWrite, RemoteWriteNeeded, WrittenMerge
from crmsync.engine.intents import describe_refused, refused_fields
from crmsync.engine.links import LinkTaken
from crmsync.engine.local_repo import UnresolvedReference
from crmsync.engine.push_support import PushSupportMixin
from crmsync.engine.results import PushResult, PushSummary
from crmsync.engine.scan import scan_local
from crmsync.erp.table import erp_now
from crmsync.providers.base import (
    AuthError,
    NotFoundError,
    ProviderError,
    RemoteRecord,
    ValidationError,
    error_message,
)

__all__ = ["DependencyError", "PushMixin"]


_STAGED_ROUNDS = 5  # reads of a record that keeps moving before the push gives up (retried later)


class DependencyError(Exception):
    """A venda's cliente or produto could not be synced first."""


class RowGone(LookupError):
    """The local row is not there and was never synced: nothing exists on either side to push.

    The ERP deleted a row before crmsync first pushed it (or the id never existed). A queued
    job for it is then done, not failed: retrying can never succeed, and a failed item would
    ask a person about a record nobody has any more."""


class PushMixin(PushSupportMixin):
    # Set when a push was refused for the integration's credentials (see push_one).
    _credentials_refused: AuthError | None = None

    def push_one(self, entity_type: str, entity_id: int) -> PushResult:
        started = time.perf_counter()
        first_plan = len(self.planned)
        try:
            if entity_type == "venda" and not self.dry_run:
                self._push_dependencies_staged(entity_id, started)
            staged = self._push_staged(entity_type, entity_id, started)
            with self._uow() as s:
                result = self._push_row(s, entity_type, entity_id) if staged is None else staged
                if not self.dry_run and result.success:
                    self.failed.succeeded(
                        s, entity_type=entity_type, direcao="push", entity_id=entity_id, external_id=result.external_id
                    )
        except PartialWrite as exc:
            # Applied and logged already (the fields taken advanced, the refused ones did not):
            # the item fails so a person sees which field the CRM would not store.
            result = PushResult(False, exc.operacao, exc.external_id, entity_id, message=str(exc))
            if not self.dry_run:
                with self._uow() as s:
                    self.failed.failed(
                        s,
                        entity_type=entity_type,
                        direcao="push",
                        entity_id=entity_id,
                        external_id=exc.external_id,
                        error=str(exc),
                    )
        except RowGone as exc:
            result = PushResult(False, "erro", None, entity_id, message=str(exc), gone=True)
            if not self.dry_run:
                with self._uow() as s:  # an item left by an earlier attempt has nothing left to retry
                    self.failed.succeeded(
                        s, entity_type=entity_type, direcao="push", entity_id=entity_id, external_id=None
                    )
        except Exception as exc:
            message = error_message(exc)
            result = PushResult(False, "erro", None, entity_id, message=message)
            result.note_exception(exc)
            with self._uow() as s:
                link = self.binder.by_local(s, entity_type, entity_id)
                result.external_id = link.external_id if link else None
                self.log.add(
                    direcao="push",
                    operacao="erro",
                    entity_type=entity_type,
                    status="erro",
                    entity_id=entity_id,
                    external_id=result.external_id,
                    mensagem=message,
                    duracao_ms=int((time.perf_counter() - started) * 1000),
                )
                if isinstance(exc, AuthError):
                    # The integration's credentials, not this record: one error for the run
                    # (push stops), no failed item per record to retry or ignore one by one.
                    self._credentials_refused = exc
                elif not self.dry_run:
                    changed_at = None
                    with contextlib.suppress(Exception):  # only a hint for an ignored item
                        changed_at = getattr(self.repo.get(s, entity_type, entity_id), "modificado_em", None)
                    self.failed.failed(
                        s,
                        entity_type=entity_type,
                        direcao="push",
                        entity_id=entity_id,
                        external_id=result.external_id,
                        error=message,
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
        # A first attach (or any dry run: the plan alone, no look-up per row) lists the CRM once.
        if entity_type in ATTACH_KEYS and (unlinked >= ATTACH_INDEX_MIN_ROWS or (self.dry_run and unlinked)):
            failed = self._index_remote(entity_type)
            if failed is not None:
                with self._uow() as s:
                    self.log.add(
                        direcao="push", operacao="erro", entity_type=entity_type, status="erro", mensagem=failed
                    )
                summary.add(PushResult(False, "erro", None, None, message=failed))
                return summary
        if deletes and not explicit:
            with self._uow() as s:
                total = self.binder.count_active(s, entity_type)
            blocked = self._mass_delete_blocked(len(deletes), total)
            if blocked:
                with self._uow() as s:
                    self.log.add(
                        direcao="push", operacao="delete", entity_type=entity_type, status="erro", mensagem=blocked
                    )
                summary.add(PushResult(False, "erro", None, None, message=blocked))
                deletes = []
        self._credentials_refused = None
        try:
            done: set[int] = set()
            if entity_type in self._attach_index and not self.dry_run:
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

    # ------------------------------------------------------------------ one row, staged

    def _push_staged(self, entity_type: str, entity_id: int, started: float) -> PushResult | None:
        """Push one live cliente/produto with no transaction open while the CRM is called:
        read in a short transaction, call the CRM, apply in another short transaction that
        first checks the row and its link did not move meanwhile (if they did, the record
        is read and reconciled again). A CRM that hangs then holds no database lock, so other
        stores (and this one's users) keep writing. A venda's dependencies are pushed first
        (:meth:`_push_dependencies_staged`). None: a case for the one-transaction path (dry
        runs, deletes, skips, records gone from the CRM), which the caller then takes."""
        if self.dry_run or self.config.direction(entity_type) == "pull":
            return None
        remote: RemoteRecord | None = None
        written: WrittenMerge | None = None  # a merge whose CRM write is done, to apply
        linked_now = False  # linked by this push to a record found by its keys
        for _round in range(_STAGED_ROUNDS):
            with self._read() as s:
                row = self.repo.get(s, entity_type, entity_id)
                if row is None:
                    return None
                link = self.binder.by_local(s, entity_type, entity_id)
                if link is not None and not self._is_active(link):
                    return None
                if row.deletado_em is not None:
                    if link is None or self.config.entity(entity_type).delete_remoto not in ("delete", "deactivate"):
                        return None
                    seen = self._fingerprint(entity_type, row, link)
                    return self._push_delete_staged(entity_type, entity_id, link.external_id, seen)
                now_seen = self._fingerprint(entity_type, row, link)
                external_id = link.external_id if link is not None else None
                local_ext = self._local_ext(s, entity_type, row) if link is None else None
            if written is None:
                seen = now_seen
            elif now_seen != seen:
                written = None  # moved while the CRM was written: merge again with its answer
                seen = now_seen
            if external_id is None:
                assert local_ext is not None
                created = self._push_new_staged(entity_type, entity_id, local_ext, seen, started)
                if isinstance(created, PushResult):
                    return created
                found = created if isinstance(created, RemoteRecord) else None  # linked by us to it
                linked_now, remote = linked_now or found is not None, found or remote
                continue
            if remote is None or (remote.external_id != external_id and written is None):
                # (a written record may answer another id: it moved module and is relinked)
                try:
                    remote = self.provider.get(entity_type, external_id)
                except NotFoundError:
                    return None
            try:
                with self._uow() as s:
                    row = self.repo.get(s, entity_type, entity_id)
                    link = self.binder.by_local(s, entity_type, entity_id)
                    if not self._unmoved(entity_type, row, link, seen):
                        remote, written = None, None  # moved meanwhile: read both sides again
                        continue
                    assert link is not None
                    out = self._reconcile(
                        s, entity_type, link, row, remote, direcao="push", remote_writes=False, written=written
                    )
            except RemoteWriteNeeded as need:
                answer = self.provider.update(entity_type, external_id, need.fields, current=need.remote)
                written = WrittenMerge(need.merge, need.local_ext, answer, refused_fields(need.fields, answer.data))
                remote = answer
                continue  # apply that merge in the next round, if nothing moved meanwhile
            return self._staged_result(out, "link" if linked_now else out.operacao, link.external_id, entity_id)
        raise RuntimeError("o registro mudou a cada tentativa durante o envio; será tentado de novo")

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

    def _push_new_staged(
        self, entity_type: str, entity_id: int, local_ext: dict[str, Any], seen: tuple[Any, ...], started: float
    ) -> PushResult | RemoteRecord | str:
        """An unlinked row: look it up by its unique keys, else create it, with no transaction
        open; then link in a short one. The record found (linked by us to it) or "taken"
        (linked by another run): to be merged as a linked row.

        Before the create, what is sent is stored durably (the create's intent): if its
        answer is lost, the retry finds the record by its keys and recognises it as ours."""
        found = self._find_by_keys(entity_type, local_ext)
        if found is not None:
            with self._uow() as s:
                if self.binder.by_local(s, entity_type, entity_id) is not None:
                    return "taken"
                self._link_found(s, entity_type, entity_id, found)
            return found
        with self._uow() as s:
            self.intents.record(s, entity_type, entity_id, local_ext)
        try:
            remote = self.provider.create(entity_type, local_ext)
        except ValidationError:
            with self._uow() as s:  # refused: nothing was created, nothing to recognise later
                self.intents.take(s, entity_type, entity_id)
            raise
        refused = refused_fields(local_ext, remote.data)
        if entity_type in self._attach_index:
            self._attach_index[entity_type].add_created(remote)
        duplicate: str | None = None
        with self._uow() as s:
            row = self.repo.get(s, entity_type, entity_id)
            self.intents.take(s, entity_type, entity_id)
            link = self.binder.new_link(
                entity_type,
                entity_id,
                remote.external_id,
                # a field the CRM did not store keeps the CRM's value as base: still to send
                base={**remote.data, **{k: v for k, v in local_ext.items() if k not in refused}},
                # the fingerprint of what was sent: a change made meanwhile shows as dirty
                local_hash=seen[0],
                remote_version=remote.version,
                remote_modified_at=remote.modified_at,
            )
            try:
                self.binder.create(s, link)
            except LinkTaken as taken:
                if taken.existing.external_id == remote.external_id:
                    raise ValueError(
                        f"o registro {remote.external_id} do CRM já está vinculado ao registro local "
                        f"#{taken.existing.entity_id} e é idêntico a este: possível duplicata, revise os dados"
                    ) from None
                duplicate = remote.external_id
            else:
                message = describe_refused(self.crm_name, refused) if refused else None
                self.log.add(
                    direcao="push",
                    operacao="create",
                    entity_type=entity_type,
                    status="erro" if refused else "sucesso",
                    entity_id=entity_id,
                    external_id=remote.external_id,
                    mensagem=f"gravação parcial: {message}" if message else None,
                    duracao_ms=int((time.perf_counter() - started) * 1000),
                )
            if row is None:
                raise LookupError(f"{entity_type} #{entity_id} não encontrado nesta loja")
        if duplicate is not None:
            # Another run linked this row meanwhile: ours is a duplicate on the provider.
            with contextlib.suppress(ProviderError):
                self.provider.delete(entity_type, duplicate)
            return "taken"
        if refused:
            message = describe_refused(self.crm_name, refused)
            raise PartialWrite(message, operacao="create", external_id=remote.external_id)
        return PushResult(True, "create", remote.external_id, entity_id)

    # ------------------------------------------------------------------ one row

    def _push_row(self, s: Session, entity_type: str, entity_id: int) -> PushResult:
        started = time.perf_counter()
        row = self.repo.get(s, entity_type, entity_id)
        link = self.binder.by_local(s, entity_type, entity_id)
        if row is None and link is not None and self._is_active(link):
            row = self.repo.ghost(entity_type, entity_id)  # hard-deleted by the ERP: push the delete
        if row is None:
            raise RowGone(f"{entity_type} #{entity_id} não encontrado nesta loja")
        if self.config.direction(entity_type) == "pull":
            return self._push_skip(entity_type, entity_id, None, "entidade somente leitura (direção pull)")
        if row.deletado_em is not None:
            return self._push_local_delete(s, entity_type, row, link)
        if link is not None and not self._is_active(link):
            return self._push_skip(
                entity_type, entity_id, link.external_id, "registro excluído ou com exclusão pendente de decisão"
            )
        if entity_type == "venda":
            self._push_dependencies(s, row)
        if link is not None:
            try:
                remote = self.provider.get(entity_type, link.external_id)
            except NotFoundError:
                op = self._apply_remote_delete(s, entity_type, link, row, direcao="push")
                return PushResult(True, op, link.external_id, entity_id, message="registro excluído no CRM")
            out = self._reconcile(s, entity_type, link, row, remote, direcao="push")
            return PushResult(
                True,
                out.operacao,
                link.external_id,
                entity_id,
                conflitos=out.conflicts,
                message=self._conflict_message(out.conflicts),
            )
        return self._push_unlinked(s, entity_type, row, started)

    def _push_unlinked(self, s: Session, entity_type: str, row: Any, started: float) -> PushResult:
        try:
            local_ext = self._local_ext(s, entity_type, row)
        except UnresolvedReference:
            if self.dry_run:  # dependencies were only planned, so they have no link yet
                self._plan(
                    "externo", "create", entity_type, entity_id=row.id, motivo="após criar as dependências da venda"
                )
                self.log.add(
                    direcao="push", operacao="create", entity_type=entity_type, status="simulado", entity_id=row.id
                )
                return PushResult(True, "create", None, row.id)
            raise
        found = self._find_by_keys(entity_type, local_ext)
        if found is not None:
            link = self._link_found(s, entity_type, row.id, found)
            if self.dry_run:
                self._plan(
                    "vinculo",
                    "link",
                    entity_type,
                    entity_id=row.id,
                    external_id=found.external_id,
                    motivo="já existia no CRM (mesma chave única)",
                )
            out = self._reconcile(s, entity_type, link, row, found, direcao="push")
            return PushResult(
                True,
                "link",
                found.external_id,
                row.id,
                conflitos=out.conflicts,
                message=self._conflict_message(out.conflicts),
            )
        if self.dry_run:
            self._plan("externo", "create", entity_type, entity_id=row.id, campos=local_ext)
            self.log.add(
                direcao="push", operacao="create", entity_type=entity_type, status="simulado", entity_id=row.id
            )
            return PushResult(True, "create", None, row.id)
        remote = self.provider.create(entity_type, local_ext)
        base = {**remote.data, **local_ext}
        link = self.binder.new_link(
            entity_type,
            row.id,
            remote.external_id,
            base=base,
            local_hash=self.repo.row_hash(entity_type, row),
            remote_version=remote.version,
            remote_modified_at=remote.modified_at,
        )
        try:
            self.binder.create(s, link)
        except LinkTaken as taken:
            if taken.existing.external_id == remote.external_id:
                # The provider answered with a record another local row is linked to (a
                # create whose answer was lost, looked up and matched to an identical twin):
                # it is not ours to link, and certainly not ours to delete.
                raise ValueError(
                    f"o registro {remote.external_id} do CRM já está vinculado ao registro local "
                    f"#{taken.existing.entity_id} e é idêntico a este: possível duplicata, revise os dados"
                ) from None
            # Another run linked this row meanwhile: ours is a duplicate on the provider.
            with contextlib.suppress(ProviderError):
                self.provider.delete(entity_type, remote.external_id)
            return self._push_skip(entity_type, row.id, taken.existing.external_id, "já vinculado por outra execução")
        self.log.add(
            direcao="push",
            operacao="create",
            entity_type=entity_type,
            status="sucesso",
            entity_id=row.id,
            external_id=remote.external_id,
            duracao_ms=int((time.perf_counter() - started) * 1000),
        )
        return PushResult(True, "create", remote.external_id, row.id)

    # ------------------------------------------------------------------ sales

    def _push_dependencies_staged(self, venda_id: int, started: float) -> None:
        """A live venda's cliente and produtos pushed first, each the staged way (read, CRM
        with no transaction open, apply), so a venda push holds no lock while a CRM answers.
        Which ones need it is read in a short look; a venda deleted or unlinked meanwhile is
        left to the main path (a delete never pushes its dependencies)."""
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
                result = self._push_staged(dep_type, dep_id, started)
                if result is None:  # a rare case for the one-transaction path (e.g. gone from the CRM)
                    with self._uow() as s:
                        result = self._push_row(s, dep_type, dep_id)
            except AuthError:
                raise  # the integration's credentials: push_one stops the run with one error
            except Exception as exc:
                raise DependencyError(
                    f"{dep_type} #{dep_id} da venda #{venda_id} não pôde ser sincronizado: {error_message(exc)}"
                ) from exc
            if not result.success:
                raise DependencyError(
                    f"{dep_type} #{dep_id} da venda #{venda_id} não pôde ser sincronizado: {result.message}"
                )

    def _push_dependencies(self, s: Session, venda: Any) -> None:
        """Push the venda's cliente and every produto first (parents before children), in
        this transaction (dry runs and the rare one-transaction cases; a real push has done
        it the staged way already, so nothing is left to do here then)."""
        for dep_type, dep_id in self._dependencies_to_push(s, venda):
            try:
                with s.begin_nested():
                    result = self._push_row(s, dep_type, dep_id)
            except Exception as exc:
                raise DependencyError(
                    f"{dep_type} #{dep_id} da venda #{venda.id} não pôde ser sincronizado: {error_message(exc)}"
                ) from exc
            if not result.success:
                raise DependencyError(
                    f"{dep_type} #{dep_id} da venda #{venda.id} não pôde ser sincronizado: {result.message}"
                )

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
