"""Read-only look-ups the console needs beyond the shared list queries.

Conflicts, duplicates and the log come from :mod:`crmsync.engine_queries` and integration
health from :mod:`crmsync.api.status` (shared with the CLI and the API so every surface
filters and scopes the same way). What is here is console-only: the open failed items of a
store (with its id, for the buttons) and the navigation badges. Every function takes the
store id and never returns another store's rows.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crmsync.db.sync import CrmConflito, CrmDuplicata, CrmItemFalho

OPEN_FAILED_STATUSES = ("pendente", "falhou")


def failed_item_to_dict(row: CrmItemFalho) -> dict[str, Any]:
    return {
        "id": row.id,
        "id_integracao": row.id_integracao,
        "entity_type": row.entity_type,
        "direcao": row.direcao,
        "chave": row.chave,
        "entity_id": row.entity_id,
        "external_id": row.external_id,
        "status": row.status,
        "tentativas": row.tentativas,
        "ultimo_erro": row.ultimo_erro,
        "proxima_tentativa": row.proxima_tentativa,
        "atualizado_em": row.atualizado_em,
    }


def list_failed_items(session: Session, loja_id: int, *, limit: int = 50) -> list[dict[str, Any]]:
    """Open failed items (waiting for a retry or parked), most recently touched first."""
    rows = session.scalars(
        select(CrmItemFalho)
        .where(CrmItemFalho.id_loja == loja_id, CrmItemFalho.status.in_(OPEN_FAILED_STATUSES))
        .order_by(CrmItemFalho.atualizado_em.desc(), CrmItemFalho.id.desc())
        .limit(limit)
    ).all()
    return [failed_item_to_dict(r) for r in rows]


def get_failed_item(session: Session, loja_id: int, item_id: int) -> CrmItemFalho | None:
    row = session.get(CrmItemFalho, item_id)
    if row is None or row.id_loja != loja_id:
        return None
    return row


def pending_duplicates(session: Session, integracao_id: int) -> int:
    return _count(
        session,
        select(func.count())
        .select_from(CrmDuplicata)
        .where(CrmDuplicata.id_integracao == integracao_id, CrmDuplicata.status == "pendente"),
    )


def _count(session: Session, stmt: Any) -> int:
    return int(session.scalar(stmt) or 0)


def nav_counts(session: Session, loja_id: int) -> dict[str, int]:
    """Badges of the navigation: what is waiting for a person."""
    return {
        "conflitos": _count(
            session,
            select(func.count())
            .select_from(CrmConflito)
            .where(CrmConflito.id_loja == loja_id, CrmConflito.status == "pendente"),
        ),
        "duplicatas": _count(
            session,
            select(func.count())
            .select_from(CrmDuplicata)
            .where(CrmDuplicata.id_loja == loja_id, CrmDuplicata.status == "pendente"),
        ),
        "falhas": _count(
            session,
            select(func.count())
            .select_from(CrmItemFalho)
            .where(CrmItemFalho.id_loja == loja_id, CrmItemFalho.status.in_(OPEN_FAILED_STATUSES)),
        ),
    }
