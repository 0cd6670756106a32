"""Job: push one local row to the CRM (create, update, link or nothing), under its lock."""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from crmsync.db.sync import CrmEntityLink
from crmsync.engine.links import Binder
from crmsync.engine.scan import scan_local
from crmsync.erp.table import active_schema
from crmsync.runtime.enqueue import pending_key
from crmsync.runtime.jobs.base import LOCK_WAIT_SECONDS, JobRun, describe, job_run, provider_error
from crmsync.runtime.locks import pull_key, record_key
from crmsync.runtime.queue import job

log = logging.getLogger("crmsync.jobs")

NAME = "push_record"


def _unchanged_since_sync(session: Session, entity_type: str, entity_id: int, link: CrmEntityLink) -> bool:
    """The mapped row still has the fingerprint its link took at the last sync."""
    if link.status != "sincronizado" or not link.local_hash:
        return False
    ent = active_schema().entity(entity_type)
    hits = list(scan_local(session, ent, id_loja=link.id_loja, provider=link.provider, ids=[entity_id]))
    return len(hits) == 1 and hits[0].kind == "igual"


@job(NAME)
def push_record(integracao_id: int, entity_type: str, entity_id: int, trigger: str = "automatico") -> str:
    """Push one local row (create, update, link or nothing), under the record's lock."""
    with job_run(NAME, pending_key("push", integracao_id, entity_type, entity_id)) as run:
        if not run.load(integracao_id, entity_type, "push"):
            return run.skip()
        integ = run.integration
        until = run.breaker_until()
        if until is not None:
            run.forget_marker()
            run.deferred(entity_type, "push", until, entity_id=entity_id, external_id=None)
            return run.done("adiado")
        binder = Binder(id_loja=integ.id_loja, id_integracao=integ.id, provider=integ.provider)
        link = binder.by_local(run.session, entity_type, entity_id)
        if (
            link is not None
            and trigger != "manual"
            and _unchanged_since_sync(run.session, entity_type, entity_id, link)
        ):
            # Nothing local to send (a repeated job, a save that changed nothing): skip without
            # spending a request; remote changes come in through pulls and webhooks.
            return run.skip("sem_mudanca")
        keys = [record_key(integ.id_loja, integ.provider, entity_type, f"local:{entity_id}")]
        if link is not None:
            keys.append(record_key(integ.id_loja, integ.provider, entity_type, f"ext:{link.external_id}"))
        else:
            keys.append(pull_key(integracao_id, entity_type))  # a create must not race a page scan
        with run.locked(keys, wait=LOCK_WAIT_SECONDS):
            return _run_push(run, entity_type, entity_id, trigger)


def _run_push(run: JobRun, entity_type: str, entity_id: int, trigger: str) -> str:
    try:
        # A success's failed item is closed below, in this job's open transaction (the
        # engine would spend a transaction of its own on it first).
        result = run.call_engine_with(
            trigger, lambda engine: engine.push_one(entity_type, entity_id), close_items=False
        )
    except LookupError as exc:  # the row is gone: nothing to push
        log.info("push %s %s ignorado: %s", entity_type, entity_id, exc)
        return run.done("ignorado")
    except Exception as exc:
        _retriable, retry_after, quota = provider_error(exc)
        log.warning("push %s %s falhou: %s", entity_type, entity_id, describe(exc))
        run.session.rollback()
        run.failed(
            entity_type,
            "push",
            entity_id=entity_id,
            external_id=None,
            error=describe(exc),
            retry_after=retry_after,
            quota=quota,
        )
        return run.done("erro")
    if result.gone:  # deleted by the ERP before its first push: nothing exists to sync
        log.info("push %s %s ignorado: %s", entity_type, entity_id, result.message)
        return run.done("ignorado")
    if result.success:
        run.succeeded(entity_type, "push", entity_id=entity_id, external_id=result.external_id, clear_error=True)
        run.done("sucesso")
        return str(result.operacao)
    run.failed(
        entity_type,
        "push",
        entity_id=entity_id,
        external_id=result.external_id,
        error=result.message or f"operação {result.operacao} falhou",
        engine_counted=True,
        retry_after=result.retry_after,
        quota=bool(result.quota_exhausted),
    )
    return run.done("erro")
