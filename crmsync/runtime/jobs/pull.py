"""Jobs: pull an entity (page through the provider's records) and pull one record (the
webhook path; also retries of pull items)."""

from __future__ import annotations

import logging
import time
from typing import Any

from crmsync.engine.links import Binder
from crmsync.engine.results import UNKNOWN_EXTERNAL_ID
from crmsync.runtime.enqueue import pending_key
from crmsync.runtime.jobs.base import LOCK_WAIT_SECONDS, JobRun, describe, job_run, provider_error
from crmsync.runtime.jobs.inbox import mark_inbox
from crmsync.runtime.locks import pull_key, record_key
from crmsync.runtime.queue import job
from crmsync.runtime.state import RuntimeState

log = logging.getLogger("crmsync.jobs")

PULL_BUSY_RETRY_SECONDS = 5.0


@job("pull_entity")
def pull_entity(integracao_id: int, entity_type: str, full: bool = False, trigger: str = "cron") -> str:
    """Page through the provider's records of one entity (the engine checkpoints each page)."""
    with job_run("pull_entity", pending_key("pull", integracao_id, entity_type)) as run:
        if not run.load(integracao_id, entity_type, "pull"):
            return run.skip()
        if run.breaker_until() is not None:
            return run.skip("adiado")  # the next scheduled scan runs once the CRM answers again
        # A busy lock: another pull or a create of this entity is running; try again shortly.
        with run.locked([pull_key(integracao_id, entity_type)], busy_delay=PULL_BUSY_RETRY_SECONDS):
            return _run_pull(run, entity_type, full, trigger)


def _run_pull(run: JobRun, entity_type: str, full: bool, trigger: str) -> str:
    integ = run.integration
    started = time.time()
    try:
        result = run.call_engine(trigger, lambda engine: engine.pull(entity_type, full=full))
    except Exception as exc:
        log.warning("pull %s da integração %s falhou: %s", entity_type, integ.id, describe(exc))
        save_pull_stats(run.state, integ.id, entity_type, started, None, describe(exc))
        return run.done("erro")
    save_pull_stats(run.state, integ.id, entity_type, started, result, None)
    for err in result.erros or []:
        ext = str(err.get("external_id") or UNKNOWN_EXTERNAL_ID)
        if ext == UNKNOWN_EXTERNAL_ID:
            continue  # a page or an item without an id: the next scan reads it again
        run.failed(
            entity_type,
            "pull",
            entity_id=None,
            external_id=ext,
            error=str(err.get("erro") or err),
            engine_counted=True,
            retry_after=result.retry_after if err.get("quota_exhausted") else None,
            quota=bool(err.get("quota_exhausted")),
        )
    return run.done("sucesso" if result.success else "erro")


def save_pull_stats(
    state: RuntimeState, integracao_id: int, entity_type: str, started: float, result: Any, error: str | None
) -> None:
    """Remember what a scan cost, for the scheduler's quota estimate and for the status page."""
    key = f"pullstats:{integracao_id}:{entity_type}"
    try:
        previous = state.get_json(key) or {}
        data = dict(previous)
        data["ultima_tentativa"] = started
        if result is not None:
            data.update(
                {
                    "ultima_execucao": time.time(),
                    "sucesso": bool(result.success),
                    "paginas": int(getattr(result, "paginas", 0) or 0),
                    "total_processados": int(getattr(result, "total_processados", 0) or 0),
                    "erros": len(result.erros or []),
                    "erro": None,
                }
            )
            if result.success:
                data["ultimo_sucesso"] = time.time()
        else:
            data["erro"] = error
        state.set_json(key, data)
    except Exception:
        log.debug("estatística de pull não salva", exc_info=True)


@job("pull_record")
def pull_record(
    integracao_id: int,
    entity_type: str,
    external_id: str,
    trigger: str = "webhook",
    inbox_id: int | None = None,
) -> str:
    """Fetch one external record and apply it (the webhook path; also retries of pull items)."""
    with job_run("pull_record", pending_key("pullone", integracao_id, entity_type, external_id)) as run:
        if not run.load(integracao_id, entity_type, "pull"):
            run.forget_marker()
            mark_inbox(run.session, inbox_id, "ignorado")
            return run.done("ignorado")
        integ = run.integration
        until = run.breaker_until()
        if until is not None:
            run.forget_marker()
            run.deferred(entity_type, "pull", until, entity_id=None, external_id=str(external_id))
            return run.done("adiado")
        binder = Binder(id_loja=integ.id_loja, id_integracao=integ.id, provider=integ.provider)
        link = binder.by_external(run.session, entity_type, external_id)
        keys = [record_key(integ.id_loja, integ.provider, entity_type, f"ext:{external_id}")]
        if link is not None:
            keys.append(record_key(integ.id_loja, integ.provider, entity_type, f"local:{link.entity_id}"))
        else:
            keys.append(pull_key(integracao_id, entity_type))
        with run.locked(keys, wait=LOCK_WAIT_SECONDS):
            return _run_pull_one(run, entity_type, external_id, trigger, inbox_id)


def _run_pull_one(run: JobRun, entity_type: str, external_id: str, trigger: str, inbox_id: int | None) -> str:
    try:
        result = run.call_engine(trigger, lambda engine: engine.pull_one(entity_type, str(external_id)))
    except Exception as exc:
        _retriable, retry_after, quota = provider_error(exc)
        run.session.rollback()
        run.failed(
            entity_type,
            "pull",
            entity_id=None,
            external_id=str(external_id),
            error=describe(exc),
            retry_after=retry_after,
            quota=quota,
        )
        mark_inbox(run.session, inbox_id, "erro")
        return run.done("erro")
    if result.success:
        run.succeeded(entity_type, "pull", external_id=str(external_id))
        mark_inbox(run.session, inbox_id, "processado")
        return run.done("sucesso")
    message = "; ".join(str(e.get("erro") or e) for e in (result.erros or [])) or "falha ao importar"
    run.failed(
        entity_type,
        "pull",
        entity_id=None,
        external_id=str(external_id),
        error=message,
        engine_counted=True,
        retry_after=result.retry_after,
        quota=bool(result.quota_exhausted),
    )
    mark_inbox(run.session, inbox_id, "erro")
    return run.done("erro")
