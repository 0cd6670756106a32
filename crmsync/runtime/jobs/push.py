"""Job: push one local row to the CRM (create, update, link or nothing), under its lock."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.orm import Session

from crmsync.db.local import LOCAL_MODELS
from crmsync.db.sync import CrmEntityLink
from crmsync.engine.links import Binder
from crmsync.engine.local_repo import LocalRepo
from crmsync.runtime.enqueue import pending_key
from crmsync.runtime.jobs.base import LOCK_WAIT_SECONDS, JobRun, describe, job_run, provider_error
from crmsync.runtime.locks import pull_key, record_key
from crmsync.runtime.queue import job

log = logging.getLogger("crmsync.jobs")

NAME = "push_record"


def row_fingerprint(entity_type: str, row: Any) -> str:
    """The engine's own dirty fingerprint of a local row (compared with `link.local_hash`)."""
    return str(LocalRepo.row_hash(entity_type, row))


def _unchanged_since_sync(session: Session, entity_type: str, entity_id: int, link: CrmEntityLink) -> bool:
    if link.status != "sincronizado" or not link.local_hash:
        return False
    row: Any = session.get(LOCAL_MODELS[entity_type], entity_id)
    if row is None or row.deletado_em is not None:
        return False
    try:
        return bool(row_fingerprint(entity_type, row) == link.local_hash)
    except Exception:
        return False


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
        result = run.call_engine(trigger, lambda engine: engine.push_one(entity_type, entity_id))
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
    if result.success:
        run.succeeded(entity_type, "push", entity_id=entity_id, external_id=result.external_id)
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
