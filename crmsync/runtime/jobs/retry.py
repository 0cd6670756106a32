"""Job: queue the failed items whose next attempt is due (or the named ones, now)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from crmsync.db.session import get_sessionmaker
from crmsync.db.types import utcnow
from crmsync.engine.ledger import items_to_retry
from crmsync.runtime.enqueue import PRIORITY_RETRY, enqueue_pull_record, enqueue_push
from crmsync.runtime.jobs.base import count
from crmsync.runtime.options import runtime_options
from crmsync.runtime.queue import get_state, job


def retry_failed(integracao_id: int | None = None, item_ids: Sequence[int] | None = None, force: bool = False) -> int:
    """Queue failed items whose next attempt is due (or the named ones, now, with `force`)."""
    opts = runtime_options()
    queued = 0
    trigger = "manual" if force else "cron"
    with get_sessionmaker()() as session:
        for item in items_to_retry(session, integracao_id, item_ids, force=force):
            if force and item.status == "falhou":
                item.status = "pendente"
                item.tentativas = 0
            # Not due again until its job has had time to run (a lost job is retried later).
            item.proxima_tentativa = utcnow() + timedelta(seconds=opts.pending_ttl_seconds)
            session.commit()
            if item.direcao == "push" and item.entity_id is not None:
                queued += int(
                    enqueue_push(
                        item.id_integracao, item.entity_type, item.entity_id, trigger=trigger, priority=PRIORITY_RETRY
                    )
                )
            elif item.external_id:
                queued += int(
                    enqueue_pull_record(item.id_integracao, item.entity_type, item.external_id, trigger=trigger)
                )
    if queued:
        count(get_state(), "retry_failed", "sucesso")
    return queued


@job("retry_failed_task")
def retry_failed_task(integracao_id: int | None = None) -> str:
    return f"{retry_failed(integracao_id)} itens"
