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
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Table, select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from crmsync.db.bulk import bulk_insert
from crmsync.db.sync import CrmCursor, CrmDuplicata, CrmEntityLink
from crmsync.engine.base import EngineBase, RemoteWriteNeeded, iso, parse_utc
from crmsync.engine.intents import intent_base
from crmsync.engine.listing import read_ahead
from crmsync.engine.local_repo import UnresolvedReference, complete_canonical
from crmsync.engine.results import PullResult, PushResult
from crmsync.engine.unique_keys import store_ignored_keys
from crmsync.matching import ExactIndex, MatchIndex, ignored_keys
from crmsync.model.canonical import canonical_hash, canonicalize
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


@dataclass
class _PullRun:
    entity_type: str
    result: PullResult
    exact: ExactIndex | None = None
    fuzzy: MatchIndex | None = None
    dismissed: set[str] = field(default_factory=set)
    creates: list[tuple[RemoteRecord, list[tuple[str, str]]]] = field(default_factory=list)  # with unique keys
    deferred: list[int] = field(default_factory=list)  # local ids to merge by a staged push
    # Runs hand CRM writes to a staged push after their transaction (pull, pull_one and a
    # venda's references after each chunk, a duplicate's review after its decision).
    defers_remote_writes: bool = True
    temp_ids: int = 0
    max_seen: datetime | None = None
    oldest_failed: datetime | None = None
    failed_without_time: bool = False


def _kept(checkpoint: dict[str, Any] | None) -> dict[str, Any]:
    """What a cursor's checkpoint keeps across runs (the last complete listing's time)."""
    value = (checkpoint or {}).get(ID_SCAN_KEY)
    return {ID_SCAN_KEY: value} if value else {}


class PullMixin(EngineBase):
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
        self._dep_runs: dict[str, _PullRun] = {}
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
                self.log.add(
                    direcao="pull",
                    operacao="list",
                    entity_type=entity_type,
                    status="erro",
                    mensagem=f"{message} (cursor mantido; a próxima execução retoma do checkpoint)",
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
                self.log.add(
                    direcao="pull", operacao="list", entity_type=run.entity_type, status="erro", mensagem=message
                )
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
                self.log.add(
                    direcao="pull",
                    operacao="erro",
                    entity_type=entity_type,
                    status="erro",
                    external_id=str(external_id),
                    mensagem=message,
                )
                if not self.dry_run:
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
        cursor = s.scalars(
            select(CrmCursor).where(
                CrmCursor.id_integracao == self.integracao_id,
                CrmCursor.entity_type == entity_type,
                CrmCursor.direcao == "pull",
            )
        ).first()
        if cursor is None:
            cursor = CrmCursor(id_integracao=self.integracao_id, entity_type=entity_type, direcao="pull")
            try:
                with s.begin_nested():
                    s.add(cursor)
                    s.flush()
            except IntegrityError:
                cursor = s.scalars(
                    select(CrmCursor).where(
                        CrmCursor.id_integracao == self.integracao_id,
                        CrmCursor.entity_type == entity_type,
                        CrmCursor.direcao == "pull",
                    )
                ).one()
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
        for dep_run in getattr(self, "_dep_runs", {}).values():  # references merged with a CRM write
            for dep_id in dep_run.deferred:
                outcome = self.push_one(dep_run.entity_type, dep_id)
                if not outcome.success:
                    run.result.error(outcome.external_id, outcome.message or "falha ao mesclar")
            dep_run.deferred = []
        pending, run.deferred = run.deferred, []
        for local_id in pending:
            outcome = self.push_one(run.entity_type, local_id)
            if outcome.success and outcome.external_id and not self.dry_run:
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

    def _item_failed(
        self,
        s: Session,
        run: _PullRun,
        external_id: str,
        modified_at: datetime | None,
        message: str,
        exc: BaseException | None = None,
    ) -> None:
        run.result.error(external_id, message, exc)
        if modified_at is None:
            run.failed_without_time = True
        elif run.oldest_failed is None or modified_at < run.oldest_failed:
            run.oldest_failed = modified_at
        self.log.add(
            direcao="pull",
            operacao="erro",
            entity_type=run.entity_type,
            status="erro",
            external_id=external_id,
            mensagem=message,
        )
        if not self.dry_run:
            self.failed.failed(
                s,
                entity_type=run.entity_type,
                direcao="pull",
                entity_id=None,
                external_id=external_id,
                error=message,
                changed_at=modified_at,
            )

    def _item_ok(self, s: Session, run: _PullRun, external_id: str) -> None:
        if not self.dry_run:
            self.failed.succeeded(
                s, entity_type=run.entity_type, direcao="pull", entity_id=None, external_id=external_id
            )

    # ------------------------------------------------------------------ linked

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
                out = self._reconcile(
                    s, entity_type, link, row, record, direcao="pull", remote_writes=not run.defers_remote_writes
                )
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

    def _ensure_indexes(self, s: Session, run: _PullRun) -> None:
        if run.exact is not None:
            return
        entity_type = run.entity_type
        ignored = ignored_keys(self.config.chaves_ignoradas)
        run.exact = ExactIndex(entity_type, ignored)
        run.fuzzy = MatchIndex(entity_type, ignored)
        linked = self.binder.linked_local_ids(s, entity_type)
        ent = self.repo.entity(entity_type)
        names: tuple[str, ...] = {
            "cliente": ("email", "cpf", "cnpj", "nome", "razao_social"),
            "produto": ("codigo", "codigo_barra", "nome"),
        }.get(entity_type, ("codigo",))
        fields = {name: ent.emap.campos[name] for name in names if name in ent.emap.campos}
        columns = list(dict.fromkeys(f.coluna for f in fields.values()))
        cols = (ent.table.c.id, *(ent.table.c[ent.shape.keys[c]] for c in columns))
        live = select(*cols).where(self.repo.store_clause(entity_type), self.repo.live_clause(entity_type))
        for row in s.execute(live.execution_options(yield_per=2000)):  # streamed: a 100k store is ~25 MB at once
            canon = _index_values(fields, dict(zip(columns, row[1:], strict=True)))
            run.exact.add(row[0], canon)
            if row[0] not in linked:
                run.fuzzy.add(row[0], canon)
        run.dismissed = set(
            s.scalars(
                select(CrmDuplicata.external_id).where(
                    CrmDuplicata.id_integracao == self.integracao_id,
                    CrmDuplicata.entity_type == entity_type,
                    CrmDuplicata.status == "descartado",
                )
            )
        )

    def _pull_unlinked(self, s: Session, run: _PullRun, record: RemoteRecord, *, batch: bool) -> int | None:
        """Link to an existing local row, suggest a duplicate, or create. Returns the local
        id now linked to the record (None when it awaits review or is batched)."""
        entity_type = run.entity_type
        result = run.result
        self._ensure_indexes(s, run)
        assert run.exact is not None and run.fuzzy is not None
        data = record.data
        pairs = run.exact.pairs(data)
        hit = run.exact.find_pairs(pairs)
        if hit is not None and hit[0] < 0:
            self._flush_creates(s, run)  # the twin is in this page's pending batch
            hit = run.exact.find_pairs(pairs)
        if hit is not None:
            local_id, key = hit
            with s.begin_nested():
                other = self.binder.by_local(s, entity_type, local_id)
                if other is not None:
                    self._suggest_duplicate(
                        s,
                        entity_type,
                        local_id,
                        record,
                        1.0,
                        f"mesmo {key} do registro local #{local_id}, já vinculado a {other.external_id}",
                    )
                    self.log.add(
                        direcao="pull",
                        operacao="skip",
                        entity_type=entity_type,
                        status="ignorado",
                        external_id=record.external_id,
                        entity_id=local_id,
                        mensagem=f"possível duplicata (mesmo {key}): aguardando revisão",
                    )
                    result.total_ignorados += 1
                    return None
                linked_id = self._retro_link(s, run, record, local_id, key)
            self._item_ok(s, run, record.external_id)
            return linked_id
        if len(run.fuzzy) and record.external_id not in run.dismissed and entity_type != "venda":
            candidates = run.fuzzy.fuzzy(data, self.config.similaridade_duplicata, limit=1)
            if candidates:
                best = candidates[0]
                with s.begin_nested():
                    self._suggest_duplicate(s, entity_type, best.local_id, record, best.score, best.reason)
                    self.log.add(
                        direcao="pull",
                        operacao="skip",
                        entity_type=entity_type,
                        status="ignorado",
                        external_id=record.external_id,
                        entity_id=best.local_id,
                        mensagem=f"possível duplicata ({best.score:.0%}): aguardando revisão",
                    )
                result.total_ignorados += 1
                return None
        if batch and entity_type != "venda":
            run.temp_ids += 1
            run.exact.add_pairs(-run.temp_ids, pairs)
            run.creates.append((record, pairs))
            return None
        with s.begin_nested():
            local_id = self._create_local(s, run, record)
        self._item_ok(s, run, record.external_id)
        return local_id

    def _retro_link(self, s: Session, run: _PullRun, record: RemoteRecord, local_id: int, key: str) -> int:
        """Spec 7.4: the same record exists on both sides without a link: link, then merge
        with no base (a filled value never gets erased; real differences follow the policy)."""
        entity_type = run.entity_type
        row = self.repo.get(s, entity_type, local_id)
        if entity_type == "venda":
            self._import_references(s, record)
        # the record a lost create of ours made (it matches the stored intent): what was sent is the base
        base = intent_base(self.intents.take(s, entity_type, local_id), record.data)
        link = self.binder.create(
            s,
            self.binder.new_link(
                entity_type,
                local_id,
                record.external_id,
                base=base,
                local_hash=None,
                remote_version=None,
                remote_modified_at=None,
            ),
        )
        self.log.add(
            direcao="pull",
            operacao="link",
            entity_type=entity_type,
            status="sucesso",
            entity_id=local_id,
            external_id=record.external_id,
            mensagem=(
                f"criado por esta integração (resposta perdida): vínculo pelo campo {key}"
                if base is not None
                else f"vínculo retroativo pelo campo {key}"
            ),
        )
        if self.dry_run:
            self._plan(
                "vinculo",
                "link",
                entity_type,
                entity_id=local_id,
                external_id=record.external_id,
                motivo=f"mesmo {key}",
            )
        run.result.total_vinculados += 1
        if run.fuzzy is not None:
            run.fuzzy.remove(local_id)
        # A write to the CRM the merge needs waits for a staged push after this chunk (the
        # link stays); references a venda pulls in are merged here, as before.
        try:
            out = self._reconcile(
                s, entity_type, link, row, record, direcao="pull", remote_writes=not run.defers_remote_writes
            )
        except RemoteWriteNeeded:
            run.deferred.append(local_id)
            return local_id
        if out.conflicts:
            run.result.total_conflitos += 1
        return local_id

    def _local_values(
        self, s: Session, entity_type: str, record: RemoteRecord
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """(full canonical record in the external namespace, same in the local namespace)."""
        if entity_type == "venda":
            self._import_references(s, record)
        full_ext = canonicalize(entity_type, record.data)
        return full_ext, self.repo.to_local_refs(s, entity_type, full_ext)

    def _create_local(self, s: Session, run: _PullRun, record: RemoteRecord) -> int:
        entity_type = run.entity_type
        full_ext, values = self._local_values(s, entity_type, record)
        row = self.repo.new_row(entity_type, values)
        s.add(row)
        s.flush()
        self.binder.create(
            s,
            self.binder.new_link(
                entity_type,
                row.id,
                record.external_id,
                base=full_ext,
                local_hash=self.repo.row_hash(entity_type, row),
                remote_version=record.version,
                remote_modified_at=record.modified_at,
            ),
        )
        self._after_create(run, record, row.id, full_ext)
        return int(row.id)

    def _after_create(
        self,
        run: _PullRun,
        record: RemoteRecord,
        local_id: int,
        full_ext: dict[str, Any],
        pairs: list[tuple[str, str]] | None = None,
    ) -> None:
        """Count, log and index a new local row (``pairs``: its unique keys, when the
        caller normalised them already)."""
        if self.dry_run:
            self._plan("local", "create", run.entity_type, external_id=record.external_id, campos=full_ext)
        if run.exact is not None:
            run.exact.add_pairs(local_id, run.exact.pairs(full_ext) if pairs is None else pairs)
        run.result.total_criados += 1
        self.log.add(
            direcao="pull",
            operacao="create",
            entity_type=run.entity_type,
            status="sucesso",
            entity_id=local_id,
            external_id=record.external_id,
        )

    def _flush_creates(self, s: Session, run: _PullRun) -> None:
        """Create the batched new records of a page with Core inserts (the ORM's per-object
        bookkeeping was most of the cost of a large first pull), then their links in one
        multi-row INSERT. A unique violation (someone linked concurrently) sends the page's
        new records through the one-savepoint-per-record path instead."""
        pending, run.creates = run.creates, []
        if not pending:
            return
        entity_type = run.entity_type
        prepared: list[tuple[RemoteRecord, dict[str, Any], list[tuple[str, str]]]] = []
        for record, pairs in pending:
            try:
                prepared.append((record, complete_canonical(entity_type, record.data), pairs))
            except ValueError as exc:
                self._item_failed(s, run, record.external_id, record.modified_at, error_message(exc), exc)
        params: list[dict[str, Any]] = []
        fitting: list[tuple[RemoteRecord, dict[str, Any], list[tuple[str, str]]]] = []
        ignored = store_ignored_keys(s, self.id_loja) if self.repo.keeps_keys(entity_type) else frozenset()
        for item in prepared:
            try:  # a value the mapped column cannot hold fails that record only
                params.append(self.repo.insert_params(entity_type, item[1], ignored))
                fitting.append(item)
            except ValueError as exc:
                self._item_failed(s, run, item[0].external_id, item[0].modified_at, error_message(exc), exc)
        prepared = fitting
        if not prepared:
            return
        now = datetime.now(UTC)
        try:
            with s.begin_nested():
                s.flush()  # ORM objects pending in this transaction go first, as an ORM insert would
                ids = self.repo.insert_rows(s, entity_type, params, self.repo.insert_constants(entity_type, now))
                hashes = self.repo.stored_hashes(s, entity_type, ids)
                bulk_insert(
                    s.connection(),
                    cast(Table, CrmEntityLink.__table__),
                    [
                        {
                            "entity_id": row_id,
                            "external_id": record.external_id,
                            "base_snapshot": full,
                            "base_hash": canonical_hash(full),
                            "local_hash": hashes[row_id],
                            "remote_version": record.version,
                            "remote_modificado_em": record.modified_at,
                        }
                        for (record, full, _pairs), row_id in zip(prepared, ids, strict=True)
                    ],
                    {
                        "id_loja": self.id_loja,
                        "id_integracao": self.integracao_id,
                        "provider": self.provider_name,
                        "entity_type": entity_type,
                        "status": "sincronizado",
                        "sincronizado_em": now,
                        "cadastrado_em": now,
                    },
                )
        except DBAPIError:  # a unique violation, or a value an ERP column refused
            for record, _full, _pairs in prepared:  # slow path: find which one collides
                try:
                    with s.begin_nested():
                        self._create_local(s, run, record)
                    self._item_ok(s, run, record.external_id)
                except Exception as exc:
                    self._item_failed(s, run, record.external_id, record.modified_at, error_message(exc), exc)
            return
        for (record, full, pairs), row_id in zip(prepared, ids, strict=True):
            self._after_create(run, record, row_id, full, pairs)
            self._item_ok(s, run, record.external_id)

    # ------------------------------------------------------------------ sales references

    def _fetch_references(self, records: list[RemoteRecord]) -> None:
        """Read from the CRM, with no transaction open, the cliente and produtos that these
        vendas reference and that are not linked yet (looked up in a short read first);
        :meth:`_import_references` then imports them inside the chunk's transaction without
        calling the CRM. A failed read is kept and fails only the vendas that need it."""
        refs = dict.fromkeys(ref for record in records for ref in _references(record))
        with self._read() as s:
            missing = [(t, e) for t, e in refs if self.binder.by_external(s, t, e) is None]
        self._fetched_refs: dict[tuple[str, str], RemoteRecord | Exception] = {}
        for ref_type, ext_id in missing:
            try:
                self._fetched_refs[(ref_type, ext_id)] = self.provider.get(ref_type, ext_id)
            except ProviderError as exc:
                self._fetched_refs[(ref_type, ext_id)] = exc

    def _import_references(self, s: Session, record: RemoteRecord) -> None:
        """A pulled venda's cliente and produtos must be linked locally: import the missing
        ones (read by :meth:`_fetch_references` before this transaction) through the same
        unlinked-record pipeline."""
        fetched = getattr(self, "_fetched_refs", {})
        for ref_type, ext_id in _references(record):
            link = self.binder.by_external(s, ref_type, ext_id)
            if link is not None:
                continue
            ref = fetched.get((ref_type, ext_id))
            if isinstance(ref, NotFoundError):
                raise UnresolvedReference(ref_type, ext_id, "externo")
            if isinstance(ref, Exception):
                raise ValueError(f"{ref_type} externo {ext_id} não pôde ser lido do CRM: {error_message(ref)}")
            if ref is None:  # unlinked after the read before this transaction: the next run imports it
                raise ValueError(
                    f"{ref_type} externo {ext_id} referenciado pela venda {record.external_id} ainda não foi "
                    "lido do CRM; será importado na próxima execução"
                )
            dep_run = self._dep_runs.get(ref_type)
            if dep_run is None:
                dep_run = self._dep_runs[ref_type] = _PullRun(ref_type, PullResult())
            local_id = self._pull_unlinked(s, dep_run, ref, batch=False)
            if local_id is None:
                raise ValueError(
                    f"{ref_type} externo {ext_id} referenciado pela venda {record.external_id} é uma "
                    "possível duplicata aguardando revisão; a venda será importada depois da decisão"
                )

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
                self.log.add(
                    direcao="pull", operacao="delete", entity_type=entity_type, status="erro", mensagem=blocked
                )
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


def _index_values(fields: dict[str, Any], raw: dict[str, Any]) -> dict[str, Any]:
    """The matching keys of a local row, canonical; a value that does not convert is left
    out of the index (that row fails on its own when it is pushed)."""
    out: dict[str, Any] = {}
    for name, fmap in fields.items():
        try:
            out[name] = fmap.converter.to_canonical(raw.get(fmap.coluna))
        except ValueError:
            out[name] = None
    return out


def _references(record: RemoteRecord) -> list[tuple[str, str]]:
    """The (entity type, external id) a venda from the CRM points at, once each."""
    refs: list[tuple[str, str]] = []
    if record.data.get("cliente_id") is not None:
        refs.append(("cliente", str(record.data["cliente_id"])))
    for item in record.data.get("itens") or []:
        refs.append(("produto", str(item["produto_id"])))
    return list(dict.fromkeys(refs))
