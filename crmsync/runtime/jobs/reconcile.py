"""Job: find what needs syncing and queue it (the level-triggered safety net)."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crmsync.db.local import LOCAL_MODELS
from crmsync.db.sync import CrmEntityLink, CrmIntegracao
from crmsync.engine.changes import changed_since_link, link_join, may_need_push
from crmsync.engine.ledger import parked_push_items
from crmsync.runtime.enqueue import enqueue_pull, enqueue_push, enqueue_webhook, pending_key
from crmsync.runtime.jobs.base import job_run
from crmsync.runtime.jobs.inbox import stale_inbox_ids
from crmsync.runtime.jobs.push import row_fingerprint
from crmsync.runtime.jobs.retry import retry_failed
from crmsync.runtime.options import RuntimeOptions
from crmsync.runtime.queue import job

log = logging.getLogger("crmsync.jobs")

NAME = "reconcile"


def dirty_local_ids(session: Session, integ: CrmIntegracao, entity_type: str, *, full_scan: bool) -> list[int]:
    """Local rows whose content differs from what was last synced (or that were never synced).

    Level-triggered: the content hash of the row is compared with the link's `local_hash`, so
    a row changed by the PHP ERP straight in the database is found without any event. The
    quick pass (`full_scan=False`) only hashes rows whose `modificado_em` is after the link's
    `sincronizado_em`; the full pass (at the pull interval) hashes every row, catching
    writers that do not touch `modificado_em`.
    Rows whose failed item is parked (`falhou`/`ignorado`) and unchanged since are skipped.
    """
    model: Any = LOCAL_MODELS[entity_type]
    query = (
        select(model, CrmEntityLink)
        .outerjoin(CrmEntityLink, link_join(model, integ.provider, entity_type))
        .where(model.id_loja == integ.id_loja)
        .where(may_need_push(model) if full_scan else changed_since_link(model))
    )
    parked = parked_push_items(session, integ.id, entity_type)
    out: list[int] = []
    row: Any
    link: Any
    for row, link in session.execute(query.order_by(model.id)).all():
        if row.id in parked and (row.modificado_em is None or row.modificado_em <= parked[row.id]):
            continue
        if link is None:
            out.append(row.id)
            continue
        if row.deletado_em is not None and link.status in ("excluido", "desativado", "deletado"):
            continue
        try:
            current = row_fingerprint(entity_type, row)
        except Exception:  # an invalid row: let the push report it as a failed item
            out.append(row.id)
            continue
        if current != link.local_hash:
            out.append(row.id)
    return out


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
