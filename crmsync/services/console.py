"""Read-only look-ups the web console needs beyond the shared list queries.

Conflicts, duplicates and the log come from :mod:`crmsync.services.queries` and integration
health from :mod:`crmsync.services.status` (shared with the CLI and the API so every surface
filters and scopes the same way). What is here is console-only: the open failed items of a
store (with its id, for the buttons) and the navigation badges. Every function takes the
store id and never returns another store's rows.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from crmsync.db.sync import CrmItemFalho
from crmsync.engine.ledger import count_open, get_item, item_to_dict, open_items
from crmsync.services.queries import count_pending_conflicts, count_pending_duplicates


def list_failed_items(session: Session, loja_id: int, *, limit: int = 50) -> list[dict[str, Any]]:
    """Open failed items (waiting for a retry or parked), most recently touched first."""
    return [item_to_dict(r, for_display=True) for r in open_items(session, loja_id, limit=limit)]


def get_failed_item(session: Session, loja_id: int, item_id: int) -> CrmItemFalho | None:
    try:
        return get_item(session, item_id, loja_id)
    except LookupError:
        return None


def nav_counts(session: Session, loja_id: int) -> dict[str, int]:
    """Badges of the navigation: what is waiting for a person."""
    return {
        "conflitos": count_pending_conflicts(session, loja_id=loja_id),
        "duplicatas": count_pending_duplicates(session, loja_id=loja_id),
        "falhas": count_open(session, loja_id),
    }
