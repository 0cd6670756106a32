"""Job: find what needs syncing and queue it (the level-triggered safety net)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crmsync.db.sync import CrmCursor, CrmIntegracao
from crmsync.engine.ledger import parked_push_items
from crmsync.engine.scan import scan_local
from crmsync.erp.table import active_schema, erp_now
from crmsync.runtime.enqueue import enqueue_pull, enqueue_push, enqueue_webhook, pending_key
from crmsync.runtime.jobs.base import job_run
from crmsync.runtime.jobs.inbox import stale_inbox_ids
from crmsync.runtime.jobs.retry import retry_failed
from crmsync.runtime.options import RuntimeOptions
from crmsync.runtime.queue import job

log = logging.getLogger("crmsync.jobs")

NAME = "reconcile"


def dirty_local_ids(session: Session, integ: CrmIntegracao, entity_type: str, *, full_scan: bool) -> list[int]:
    """Local rows whose content differs from what was last synced (or that were never synced).

    Level-triggered: the fingerprint of the row's mapped columns is compared with the link's
    `local_hash`, so a row changed by the PHP ERP straight in the database is found without
    any event (crmsync.engine.scan, streamed in key-ordered pages). The quick pass
    (`full_scan=False`) reads only rows whose modified column is at or after the watermark
    (the highest value seen by the previous pass, minus WATERMARK_MARGIN: the watermark is in
    the ERP's own clock, whatever its time zone or precision), plus every row never linked
    and the keys that vanished; the full pass (at the pull interval) hashes every row,
    catching writers that do not touch the modified column. A map without one always scans
    fully. Rows whose failed item is parked (`falhou`/`ignorado`) and unchanged since are
    skipped.
    """
    ent = active_schema().entity(entity_type)
    parked = parked_push_items(session, integ.id, entity_type)
    modified = ent.modified_column()
    mark = _watermark(session, integ, entity_type) if modified is not None else None
    since = None
    if not full_scan and mark is not None and mark.cursor:
        since = datetime.fromisoformat(mark.cursor) - WATERMARK_MARGIN
    top = None
    if modified is not None:  # read before the scan: a row stamped during it is seen next time
        top = session.scalar(select(func.max(modified)).where(ent.store_clause(integ.id_loja)))
        if top is not None and not ent.own_clock:  # a stamp in the future must not hold the mark
            now = erp_now(session, ent.table)  # the ERP's clock
            top = min(top, now) if now is not None else top
    out: list[int] = []
    for hit in scan_local(
        session, ent, id_loja=integ.id_loja, provider=integ.provider, since=since, new_rows=True, batch=5000
    ):
        stamp = parked.get(hit.entity_id, _NOT_PARKED)
        if stamp is not _NOT_PARKED and (hit.modified is None or stamp is None or hit.modified <= _aware(stamp)):
            continue
        out.append(hit.entity_id)
    if top is not None:
        _advance_watermark(session, integ, entity_type, mark, top)
    return out


WATERMARK_MARGIN = timedelta(minutes=5)  # a PHP transaction stamped before it committed
_WATERMARK = "varredura_local"
_NOT_PARKED: Any = object()


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _watermark(session: Session, integ: CrmIntegracao, entity_type: str) -> CrmCursor | None:
    return session.scalar(
        select(CrmCursor).where(
            CrmCursor.id_integracao == integ.id, CrmCursor.entity_type == entity_type, CrmCursor.direcao == _WATERMARK
        )
    )


def _advance_watermark(
    session: Session, integ: CrmIntegracao, entity_type: str, mark: CrmCursor | None, top: datetime
) -> None:
    """Keep the highest modified value seen (losing an update only means a wider next pass)."""
    try:
        if mark is None:
            session.add(CrmCursor(id_integracao=integ.id, entity_type=entity_type, direcao=_WATERMARK))
            session.flush()
            mark = _watermark(session, integ, entity_type)
        if mark is not None and (not mark.cursor or datetime.fromisoformat(mark.cursor) < top):
            mark.cursor = top.isoformat()
        session.commit()
    except IntegrityError:  # another reconcile created it a moment ago
        session.rollback()


@job(NAME)
def reconcile(integracao_id: int, remote: bool = True, trigger: str = "cron", full_scan: bool | None = None) -> str:
    """Find what needs syncing and queue it: dirty local rows (push per record, under each
    record's lock) and, with `remote`, a pull of every entity. Also re-queues webhook
    deliveries and failed items that are due."""
    queued = 0
    with job_run(NAME, pending_key("reconcile", integracao_id, bool(remote))) as run:
        if not run.load(integracao_id):
            return run.done("ignorado")
        run.forget_marker()
        integ, cfg = run.integration, run.cfg
        assert cfg is not None
        for entity_type in cfg.entities():
            if cfg.syncs(entity_type, "push"):
                scan = remote if full_scan is None else full_scan
                for entity_id in dirty_local_ids(run.session, integ, entity_type, full_scan=scan):
                    queued += int(enqueue_push(integracao_id, entity_type, entity_id, trigger=trigger))
            if remote and cfg.syncs(entity_type, "pull"):
                queued += int(enqueue_pull(integracao_id, entity_type, trigger=trigger))
        queued += requeue_stale_inbox(run.session, integracao_id, run.opts)
    queued += retry_failed(integracao_id)  # in its own session, once this one is closed
    run.done("sucesso")
    log.info("reconcile integração %s: %s jobs na fila", integracao_id, queued)
    return f"{queued} jobs"


def requeue_stale_inbox(session: Session, integracao_id: int, opts: RuntimeOptions) -> int:
    return sum(int(enqueue_webhook(i)) for i in stale_inbox_ids(session, integracao_id, opts.inbox_retry_seconds))
