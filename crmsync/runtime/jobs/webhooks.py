"""Job: apply one stored webhook delivery (pull the record it names, now)."""

from __future__ import annotations

from typing import Any

from crmsync.config import ENTITY_ALIASES
from crmsync.db.sync import CrmWebhookInbox
from crmsync.runtime.jobs.base import job_run
from crmsync.runtime.jobs.inbox import mark_inbox
from crmsync.runtime.jobs.pull import pull_record
from crmsync.runtime.queue import job

NAME = "process_webhook"

RECURSO_TO_ENTITY = ENTITY_ALIASES  # "clientes" or "cliente" -> "cliente"


def webhook_target(payload: dict[str, Any]) -> tuple[str, str] | None:
    """(entity, external id) a delivery is about, or None when it names nothing we sync."""
    recurso = str(payload.get("recurso") or "").strip().lower()
    entity = RECURSO_TO_ENTITY.get(recurso)
    if entity is None:
        evento = str(payload.get("evento") or "")
        entity = RECURSO_TO_ENTITY.get(evento.split(".", 1)[0].strip().lower())
    ext = payload.get("id")
    if ext is None and isinstance(payload.get("data"), dict):
        ext = payload["data"].get("id")
    if entity is None or ext is None or str(ext).strip() == "":
        return None
    return entity, str(ext)


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
        target = webhook_target(row.payload or {})
        if target is None:
            mark_inbox(run.session, inbox_id, "ignorado")
            return run.done("ignorado")
        integracao_id = row.id_integracao
        run.done("sucesso")
    entity_type, external_id = target
    return pull_record(integracao_id, entity_type, external_id, trigger="webhook", inbox_id=inbox_id)
