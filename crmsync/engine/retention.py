"""Retention: the webhook inbox and the sync log never grow without bound.

Processed webhook deliveries older than `webhook_retention_days` and sync-log rows older
than `sync_log_retention_days` are deleted, oldest first, in batches of short transactions
(a first cleanup of a large log never holds the database). A delivery still waiting to be
processed ("recebido") is never deleted, whatever its age: it is work not done yet. The
scheduler calls :func:`purge_expired` once a day; it can be run by hand as well.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from crmsync.db.sync import CrmSyncLog, CrmWebhookInbox
from crmsync.db.types import utcnow

__all__ = ["PurgeResult", "purge_expired"]

BATCH = 1000


@dataclass
class PurgeResult:
    webhooks: int = 0
    logs: int = 0


def _purge(sf: sessionmaker[Session], model: Any, stamp: Any, cutoff: datetime, *extra: Any) -> int:
    total = 0
    while True:
        with sf() as s, s.begin():
            ids: list[int] = list(
                s.scalars(select(model.id).where(stamp < cutoff, *extra).order_by(model.id).limit(BATCH))
            )
            if not ids:
                return total
            s.execute(delete(model).where(model.id.in_(ids)))
            total += len(ids)


def purge_expired(
    sf: sessionmaker[Session], *, webhook_days: int, log_days: int, now: datetime | None = None
) -> PurgeResult:
    """Delete what is past its retention (a value of 0 or less keeps everything of that kind)."""
    now = now or utcnow()
    result = PurgeResult()
    if webhook_days > 0:
        result.webhooks = _purge(
            sf,
            CrmWebhookInbox,
            CrmWebhookInbox.recebido_em,
            now - timedelta(days=webhook_days),
            CrmWebhookInbox.status != "recebido",
        )
    if log_days > 0:
        result.logs = _purge(sf, CrmSyncLog, CrmSyncLog.criado_em, now - timedelta(days=log_days))
    return result
