"""Pull: external -> local (spec section 3, hardened).

* Pages are streamed from the provider; each page is applied in one transaction together
  with its log rows and a checkpoint ``{run_id, page, ...}`` in ``crm_cursores``, so a crash
  or a failed page leaves a resumable state and never a half-applied page.
* The cursor (watermark and ``ultima_execucao_completa``) moves only when a run completes;
  with failed items the watermark stops just before the oldest failed one, so a failed
  record is read again by the next poll instead of being skipped forever.
* Per item: link -> skip quickly when the remote version is the one we stored and the local
  row is clean, else three-way merge; no link -> exact key match (e-mail, CPF, CNPJ;
  produto code or barcode) and retro-link (spec 7.4); else a fuzzy name match only records a
  suggestion in ``crm_duplicatas`` and creates nothing while a human reviews; else create.
* New records of a page are created in bulk (one multi-row INSERT for the rows, one for the
  links); if that batch hits a unique constraint (someone else linked concurrently) the page
  falls back to one savepoint per record.
* Deletions are inferred only from a complete listing (a full scan read from its first page
  to its last in this run), confirmed one by one with ``get``, behind the mass-delete
  circuit breaker.
"""

from __future__ import annotations

from contextlib import closing
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from crmsync.db.sync import CrmCursor, CrmEntityLink
from crmsync.engine.base import RemoteWriteNeeded, iso, parse_utc
from crmsync.engine.listing import read_ahead
from crmsync.engine.pull_run import _PullRun
from crmsync.engine.pull_unlinked import PullUnlinkedMixin
from crmsync.engine.results import PullResult, PushResult
from crmsync.providers.base import (
    ChangedSinceListing,
    ListsIds,
    NotFoundError,
    Page,
    ProviderError,
    RemoteRecord,
    error_message,
)
from crmsync.settings import get_settings

__all__ = ["PullMixin"]


# Pages read ahead of the one being applied during full scans (crmsync.engine.listing: a
# thread, or another process for a long listing). The provider is safe to share between
# threads and processes: one pacing bucket and one quota counter per company, in a store
# every process opens (tests/provider/test_threads_share_the_limit.py counts it at the sandbox).
PREFETCH_PAGES = 2

# A changed-since poll never sees deletes: when the provider can list ids, one poll in this
# many seconds also scans every id (a request per ~1,000 records) and infers them. The time of
# the last complete listing (id scan or full scan) is kept in the pull cursor's checkpoint.
ID_SCAN_SECONDS = 3600
ID_SCAN_KEY = "varredura_ids_em"


APPLY_CHUNK = 250  # records applied per transaction: a page of a few hundred, one chunk


def _kept(checkpoint: dict[str, Any] | None) -> dict[str, Any]:
    """What a cursor's checkpoint keeps across runs (the last complete listing's time)."""
    value = (checkpoint or {}).get(ID_SCAN_KEY)
    return {ID_SCAN_KEY: value} if value else {}


class PullMixin(PullUnlinkedMixin):
    if TYPE_CHECKING:  # provided by PushMixin in SyncEngine

        def push_one(self, entity_type: str, entity_id: int) -> PushResult: ...

    def pull(self, entity_type: str, *, full: bool = False) -> PullResult:
        result = PullResult()
        first_plan = len(self.planned)
        if self.config.direction(entity_type) == "push":
            result.message = "entidade somente envio (direção push): nada a importar"
            return result
        if entity_type not in self.provider.capabilities.entities:  # SuiteCRM: no vendas
            result.message = f"o provedor não sincroniza {entity_type}: nada a importar"
            return result
        self._dep_runs = {}
        run = _PullRun(entity_type, result)
        run_started = datetime.now(UTC)
        caps = self.provider.capabilities
        with self._uow() as s:
            cursor = self._cursor(s, entity_type)
            watermark = parse_utc(cursor.cursor)
            checkpoint = dict(cursor.checkpoint or {})
        # A provider that lists "changed since" polls in proportion to the changes; deletes
        # are then found by the periodic full scan (`full=True`), which lists everything.
        changed_since = bool(
            caps.changed_since_filter
            and isinstance(self.provider, ChangedSinceListing)
            and not full
            and watermark is not None
        )
        newest_first = bool(caps.sort_by_modification and not full and watermark is not None and not changed_since)
        mode = "changed_since" if changed_since else "newest_first" if newest_first else "full_scan"
        start_page = 1
        if checkpoint.get("mode") == mode == "full_scan" and checkpoint.get("page"):
            start_page = int(checkpoint["page"]) + 1
            run.max_seen = parse_utc(checkpoint.get("max_seen"))
            run.oldest_failed = parse_utc(checkpoint.get("oldest_failed"))
        seen: set[str] | None = set() if mode == "full_scan" and start_page == 1 else None
        overlap = timedelta(seconds=self.config.tolerancia_relogio_segundos)
        cutoff = watermark - overlap if watermark is not None else None
        page_no = start_page - 1
        try:
            # An incremental poll usually stops after its first page: reading ahead would
            # spend the provider's request quota on pages never used.
            if changed_since:
                assert cutoff is not None and isinstance(self.provider, ChangedSinceListing)
                # From the watermark less the clock tolerance: records seen again are dropped
                # by version in _pull_linked. A failed poll restarts the window (cheap).
                source = self.provider.iter_changed(entity_type, cutoff)
            else:
                source = read_ahead(
                    self.provider,
                    entity_type,
                    start_page,
                    newest_first=newest_first,
                    depth=0 if newest_first else PREFETCH_PAGES,
                    log_level=get_settings().log_level,
                )
            with closing(source) as pages:  # a listing process or thread stops with the loop
                for page in pages:
                    page_no = page.page
                    self._apply_page(run, page, seen=seen, checkpoint={"mode": mode, "page": page.page})
                    result.paginas += 1
                    self._report_progress(entity_type, result)
                    if newest_first and cutoff is not None and page.records:
                        oldest = page.records[-1].modified_at
                        if oldest is not None and oldest < cutoff:
                            break
        except Exception as exc:
            message = f"falha ao ler a página {page_no + 1} do CRM: {error_message(exc)}"
            result.error(None, message, exc)
            result.message = message
            with self._uow() as s:
                self.log.error(
                    "pull",
                    entity_type,
                    f"{message} (cursor mantido; a próxima execução retoma do checkpoint)",
                    operacao="list",
                )
            result.planned = self.planned[first_plan:]
            return result
        if seen is not None:
            self._infer_remote_deletes(run, seen, run_started)
        elif changed_since and isinstance(self.provider, ListsIds) and self._id_scan_due(checkpoint):
            seen = self._scan_ids(run)
        self._complete_run(run, watermark, listed_all=seen is not None)
        result.planned = self.planned[first_plan:]
        return result

    @staticmethod
    def _id_scan_due(checkpoint: dict[str, Any]) -> bool:
        last = parse_utc(checkpoint.get(ID_SCAN_KEY))
        return last is None or datetime.now(UTC) - last >= timedelta(seconds=ID_SCAN_SECONDS)

    def _scan_ids(self, run: _PullRun) -> set[str] | None:
        """Every live id of the entity, then deletes inferred from them; None when the scan
        failed (nothing is inferred from an incomplete listing)."""
        assert isinstance(self.provider, ListsIds)
        started = datetime.now(UTC)
        seen: set[str] = set()
        try:
            for ids in self.provider.iter_ids(run.entity_type):
                seen.update(ids)
        except Exception as exc:
            message = f"falha na varredura de ids (exclusões não verificadas): {error_message(exc)}"
            run.result.error(None, message, exc)
            with self._uow():
                self.log.error("pull", run.entity_type, message, operacao="list")
            return None
        self._infer_remote_deletes(run, seen, started)
        return seen

    def pull_one(self, entity_type: str, external_id: str) -> PullResult:
        """One external record (the webhook path): same pipeline as a page of one."""
        result = PullResult()
        first_plan = len(self.planned)
        self._dep_runs = {}
        run = _PullRun(entity_type, result)
        try:
            record = self.provider.get(entity_type, str(external_id))
        except NotFoundError:
            with self._uow() as s:
                link = self.binder.by_external(s, entity_type, str(external_id))
                if link is not None and self._is_active(link):
                    row = self.repo.get(s, entity_type, link.entity_id)
                    op = self._apply_remote_delete(s, entity_type, link, row, direcao="pull")
                    result.total_processados = 1
                    if op == "delete":
                        result.total_excluidos += 1
                    elif op == "conflict":
                        result.total_conflitos += 1
                    else:
                        result.total_ignorados += 1
            result.planned = self.planned[first_plan:]
            return result
        except ProviderError as exc:
            message = error_message(exc)
            result.error(str(external_id), message, exc)
            with self._uow() as s:
                self.log.error("pull", entity_type, message, external_id=str(external_id))
                self.failed.failed(
                    s,
                    entity_type=entity_type,
                    direcao="pull",
                    entity_id=None,
                    external_id=str(external_id),
                    error=message,
                )
            return result
        self._apply_page(run, Page(records=[record], page=1, next_page=None), seen=None, checkpoint=None)
        result.paginas = 0
        result.planned = self.planned[first_plan:]
        return result

    # ------------------------------------------------------------------ cursor

    def _cursor(self, s: Session, entity_type: str) -> CrmCursor:
        """The entity's pull cursor, made on first use (another run may make it meanwhile)."""
        mine = select(CrmCursor).where(
            CrmCursor.id_integracao == self.integracao_id,
            CrmCursor.entity_type == entity_type,
            CrmCursor.direcao == "pull",
        )
        cursor = s.scalars(mine).first()
        if cursor is None:
            cursor = CrmCursor(id_integracao=self.integracao_id, entity_type=entity_type, direcao="pull")
            try:
                with s.begin_nested():
                    s.add(cursor)
                    s.flush()
            except IntegrityError:
                cursor = s.scalars(mine).one()
        return cursor

    def _complete_run(self, run: _PullRun, previous: datetime | None, *, listed_all: bool = False) -> None:
        """The listing was read to its end: advance the watermark (never past a failed
        item) and, when nothing failed, the completion time; drop the checkpoint."""
        result = run.result
        with self._uow() as s:
            cursor = self._cursor(s, run.entity_type)
            watermark = run.max_seen
            if run.failed_without_time:
                watermark = previous
            elif run.oldest_failed is not None and watermark is not None:
                watermark = min(watermark, run.oldest_failed - timedelta(microseconds=1))
            if watermark is not None and (previous is None or watermark > previous):
                cursor.cursor = iso(watermark)
            if result.success:
                cursor.ultima_execucao_completa = datetime.now(UTC)
            kept = _kept(cursor.checkpoint)
            if listed_all:
                kept[ID_SCAN_KEY] = iso(datetime.now(UTC))
            cursor.checkpoint = kept or None
            self.log.add(
                direcao="pull",
                operacao="pull",
                entity_type=run.entity_type,
                status="sucesso" if result.success else "erro",
                mensagem=(
                    f"{result.total_processados} processados, {result.total_criados} criados, "
                    f"{result.total_atualizados} atualizados, "
                    f"{result.total_vinculados} vinculados, "
                    f"{result.total_conflitos} conflitos, {result.total_excluidos} excluídos, "
                    f"{len(result.erros)} erros"
                ),
            )

    def _report_progress(self, entity_type: str, result: PullResult) -> None:
        if self.progress is None:
            return
        quota_left = None
        quota = self.provider.capabilities.daily_quota
        used = self.provider.requests_used_today()
        if quota is not None and used is not None:
            quota_left = max(0, quota - used)
        self.progress(
            {
                "records": result.total_processados,
                "pages": result.paginas,
                "quota_left": quota_left,
                "entity": entity_type,
                # the local side of a first attach: CRM records linked to the store's own rows
                # (matched by its in-memory index of unique keys) and those created in it
                "matches": result.total_vinculados,
                "creates": result.total_criados,
            }
        )

    # ------------------------------------------------------------------ pages

    def _apply_page(
        self, run: _PullRun, page: Page, *, seen: set[str] | None, checkpoint: dict[str, Any] | None
    ) -> None:
        """Apply a page in chunks of at most :data:`APPLY_CHUNK` records, each in its own short
        transaction (a page far larger than asked for never holds the database for long);
        the checkpoint moves with the last chunk, so a crash mid-page reads the page again."""
        records = page.records
        chunks = [records[i : i + APPLY_CHUNK] for i in range(0, len(records), APPLY_CHUNK)] or [[]]
        for number, chunk in enumerate(chunks):
            first, last = number == 0, number == len(chunks) - 1
            if run.entity_type == "venda":
                self._fetch_references(chunk)
            self._apply_chunk(
                run,
                page,
                chunk,
                errors=page.errors if first else [],
                seen=seen,
                checkpoint=checkpoint if last else None,
            )
            self._push_deferred(run)

    def _push_deferred(self, run: _PullRun) -> None:
        """Merge the records changed on both sides with a staged push (the CRM written with
        no transaction open), counted as this pull's updates or conflicts."""
        for dep_run in self._dep_runs.values():  # references merged with a CRM write
            for dep_id in dep_run.deferred:
                outcome = self.push_one(dep_run.entity_type, dep_id)
                if not outcome.success:
                    run.result.error(outcome.external_id, outcome.message or "falha ao mesclar")
            dep_run.deferred = []
        pending, run.deferred = run.deferred, []
        for local_id in pending:
            outcome = self.push_one(run.entity_type, local_id)
            if outcome.success and outcome.external_id:
                with self._uow() as s:
                    self._item_ok(s, run, outcome.external_id)
            if not outcome.success:
                run.result.error(outcome.external_id, outcome.message or "falha ao mesclar")
            elif outcome.conflitos:
                run.result.total_conflitos += 1
            elif outcome.operacao == "update":
                run.result.total_atualizados += 1
            else:
                run.result.total_ignorados += 1

    def _apply_chunk(
        self,
        run: _PullRun,
        page: Page,
        records: list[RemoteRecord],
        *,
        errors: list[tuple[str, str]],
        seen: set[str] | None,
        checkpoint: dict[str, Any] | None,
    ) -> None:
        entity_type = run.entity_type
        result = run.result
        with self._uow() as s:
            for ext_id, message in errors:
                result.total_processados += 1
                if seen is not None:
                    seen.add(str(ext_id))
                self._item_failed(s, run, str(ext_id), None, message)
            links = self.binder.many_by_external(s, entity_type, [r.external_id for r in records])
            rows = self.repo.many(s, entity_type, [link.entity_id for link in links.values()])
            for record in records:
                if seen is not None:
                    seen.add(record.external_id)
                result.total_processados += 1
                stamp = record.modified_at
                if stamp is not None and (run.max_seen is None or stamp > run.max_seen):
                    run.max_seen = stamp
                link = links.get(record.external_id)
                try:
                    if link is not None:
                        self._pull_linked(s, run, record, link, rows.get(link.entity_id), page.fetched_at)
                    else:
                        self._pull_unlinked(s, run, record, batch=True)
                except Exception as exc:
                    self._item_failed(s, run, record.external_id, record.modified_at, error_message(exc), exc)
            self._flush_creates(s, run)
            if checkpoint is not None:
                cursor = self._cursor(s, entity_type)
                cursor.checkpoint = {
                    **_kept(cursor.checkpoint),
                    **checkpoint,
                    "run_id": self.run_id,
                    "max_seen": iso(run.max_seen),
                    "oldest_failed": iso(run.oldest_failed),
                }

    def _pull_linked(
        self,
        s: Session,
        run: _PullRun,
        record: RemoteRecord,
        link: CrmEntityLink,
        row: Any,
        fetched_at: datetime | None = None,
    ) -> None:
        result = run.result
        entity_type = run.entity_type
        if not self._is_active(link) or row is None or row.deletado_em is not None:
            result.total_ignorados += 1  # deleted on one side: the delete policy owns it
            return
        if fetched_at is not None and link.sincronizado_em is not None and link.sincronizado_em > fetched_at:
            # Synced (by a push, a webhook, a resolved conflict) after this page was read: the
            # copy here may be older than what both sides now hold, and merging it would undo
            # that sync. The next poll reads the record as it is then.
            result.total_ignorados += 1
            return
        if record.version and record.version == link.remote_version:
            try:
                clean = self.repo.row_hash(entity_type, row) == link.local_hash
            except ValueError:
                clean = False
            if clean:
                result.total_ignorados += 1
                self._item_ok(s, run, record.external_id)
                return
        if entity_type == "venda":  # kept even when the merge below waits for a staged push
            with s.begin_nested():
                self._import_references(s, record)
        try:
            with s.begin_nested():
                out = self._reconcile(s, entity_type, link, row, record, direcao="pull")
        except RemoteWriteNeeded:
            # Changed on both sides: the CRM must be written, which never happens inside this
            # chunk's transaction; a staged push merges the record after it commits.
            run.deferred.append(row.id)
            return
        if out.conflicts:
            result.total_conflitos += 1
        elif out.operacao == "update":
            result.total_atualizados += 1
        else:
            result.total_ignorados += 1
        self._item_ok(s, run, record.external_id)

    # ------------------------------------------------------------------ not linked

    # ------------------------------------------------------------------ deletes

    def _infer_remote_deletes(self, run: _PullRun, seen: set[str], run_started: datetime) -> None:
        entity_type = run.entity_type
        result = run.result
        with self._uow() as s:
            missing_ids = self.binder.active_missing_from(s, entity_type, seen, run_started)
            if not missing_ids:
                return
            blocked = self._mass_delete_blocked(len(missing_ids), self.binder.count_active(s, entity_type))
            if blocked:
                result.success = False
                result.message = blocked
                result.erros.append({"external_id": None, "erro": blocked})
                self.log.error("pull", entity_type, blocked, operacao="delete")
                return
        for link_id, ext_id in missing_ids:
            try:
                self.provider.get(entity_type, ext_id)
                continue  # still there (the listing moved under us): not a delete
            except NotFoundError:
                pass
            except ProviderError as exc:
                result.error(ext_id, f"não foi possível confirmar a exclusão: {error_message(exc)}", exc)
                continue
            try:  # the ERP may refuse the delete (a foreign key): that record fails, the run goes on
                with self._uow() as s:
                    link = s.get(CrmEntityLink, link_id)
                    if link is None or not self._is_active(link):
                        continue
                    row = self.repo.get(s, entity_type, link.entity_id)
                    op = self._apply_remote_delete(s, entity_type, link, row, direcao="pull")
            except DBAPIError as exc:
                result.error(ext_id, f"exclusão não aplicada no ERP: {error_message(exc)}", exc)
                continue
            if op == "delete":
                result.total_excluidos += 1
            elif op == "conflict":
                result.total_conflitos += 1
