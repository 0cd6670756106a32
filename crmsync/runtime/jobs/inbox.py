"""The webhook inbox (`crm_webhook_inbox`) as the jobs see it: marking a delivery's outcome
and finding deliveries stuck in `recebido`."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from crmsync.db.sync import CrmWebhookInbox
from crmsync.db.types import utcnow


def mark_inbox(session: Session, inbox_id: int | None, status: str) -> None:
    if inbox_id is None:
        return
    row = session.get(CrmWebhookInbox, inbox_id)
    if row is None:
        return
    row.status = status
    row.processado_em = utcnow()
    session.commit()


def stale_inbox_ids(session: Session, integracao_id: int, older_than_seconds: float, limit: int = 1000) -> list[int]:
    """Deliveries still `recebido` after `older_than_seconds` (their job was lost)."""
    cutoff = utcnow() - timedelta(seconds=older_than_seconds)
    return list(
        session.scalars(
            select(CrmWebhookInbox.id)
            .where(
                CrmWebhookInbox.id_integracao == integracao_id,
                CrmWebhookInbox.status == "recebido",
                CrmWebhookInbox.recebido_em < cutoff,
            )
            .limit(limit)
        ).all()
    )
