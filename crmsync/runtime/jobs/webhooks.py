"""Job: apply one stored webhook delivery (pull the record it names, now)."""

from __future__ import annotations

from typing import Any

from crmsync.db.sync import CrmIntegracao, CrmWebhookInbox
from crmsync.providers.registry import webhook_target as provider_webhook_target
from crmsync.runtime.jobs.base import job_run
from crmsync.runtime.jobs.inbox import mark_inbox
from crmsync.runtime.jobs.pull import pull_record
from crmsync.runtime.queue import job

NAME = "process_webhook"


def webhook_target(payload: dict[str, Any], provider: str = "gestao_click") -> tuple[str, str] | None:
    """(entity, external id) a delivery is about: the provider reads its own deliveries."""
    return provider_webhook_target(provider, payload)


@job(NAME)
def process_webhook(inbox_id: int) -> str:
    """Apply one stored delivery through the polling pipeline (pull that one record now).

    The delivery's own data is not trusted as the record's state: deliveries may arrive
    repeated or out of order, so the current record is fetched; a repeated delivery of an
    already processed row does nothing.
    """
    with job_run(NAME) as run:
        row = run.session.get(CrmWebhookInbox, inbox_id)
        if row is None or row.status in ("processado", "ignorado"):
            return run.done("ignorado")
        integ = run.session.get(CrmIntegracao, row.id_integracao)
        target = webhook_target(row.payload or {}, integ.provider if integ is not None else "gestao_click")
        if target is None:
            mark_inbox(run.session, inbox_id, "ignorado")
            return run.done("ignorado")
        integracao_id = row.id_integracao
        run.done("sucesso")
    entity_type, external_id = target
    return pull_record(integracao_id, entity_type, external_id, trigger="webhook", inbox_id=inbox_id)
