"""Read-only look-ups the console needs beyond the shared list queries.

Conflicts, duplicates and the log come from :mod:`crmsync.engine_queries` (shared with the CLI
and the API so every surface filters and scopes the same way). What is here is console-only:
the failed items of a store and a per-integration health summary built from the crm_* tables.
Every function takes the store id and never returns another store's rows.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crmsync.db.sync import CrmConflito, CrmCursor, CrmDuplicata, CrmIntegracao, CrmItemFalho, CrmSyncLog
from crmsync.web.format import parse_time

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


def get_integration(session: Session, loja_id: int, integracao_id: int) -> CrmIntegracao | None:
    row = session.get(CrmIntegracao, integracao_id)
    if row is None or row.id_loja != loja_id:
        return None
    return row


def _count(session: Session, stmt: Any) -> int:
    return int(session.scalar(stmt) or 0)


def integration_health(session: Session, loja_id: int, now: datetime | None = None) -> list[dict[str, Any]]:
    """One summary per integration of the store, from the log, cursors and review tables.

    Figures the database cannot know (requests used today against the provider's quota) are
    filled in by the runtime's status module when it is present (see ``console.py``).
    """
    now = now or datetime.now(UTC)
    result: list[dict[str, Any]] = []
    integrations = session.scalars(
        select(CrmIntegracao).where(CrmIntegracao.id_loja == loja_id).order_by(CrmIntegracao.id)
    ).all()
    for integ in integrations:
        last: dict[str, datetime | None] = {}
        for direction in ("pull", "push"):
            last[direction] = parse_time(session.scalar(
                select(func.max(CrmSyncLog.criado_em)).where(
                    CrmSyncLog.id_integracao == integ.id, CrmSyncLog.direcao == direction
                )
            ))
        last_complete = parse_time(session.scalar(
            select(func.min(CrmCursor.ultima_execucao_completa)).where(
                CrmCursor.id_integracao == integ.id, CrmCursor.direcao == "pull"
            )
        ))
        reference = last_complete or last["pull"]
        errors_today = _count(session, select(func.count()).select_from(CrmSyncLog).where(
            CrmSyncLog.id_integracao == integ.id,
            CrmSyncLog.status == "erro",
            CrmSyncLog.criado_em >= now.replace(hour=0, minute=0, second=0, microsecond=0),
        ))
        result.append({
            "id": integ.id,
            "provider": integ.provider,
            "ativo": integ.ativo,
            "base_url": integ.base_url,
            "ultimo_pull": last["pull"],
            "ultimo_push": last["push"],
            "ultimo_pull_completo": last_complete,
            "lag_segundos": (now - reference).total_seconds() if reference else None,
            "erros_hoje": errors_today,
            "itens_falhos": _count(session, select(func.count()).select_from(CrmItemFalho).where(
                CrmItemFalho.id_integracao == integ.id, CrmItemFalho.status == "falhou")),
            "itens_pendentes": _count(session, select(func.count()).select_from(CrmItemFalho).where(
                CrmItemFalho.id_integracao == integ.id, CrmItemFalho.status == "pendente")),
            "conflitos_pendentes": _count(session, select(func.count()).select_from(CrmConflito).where(
                CrmConflito.id_integracao == integ.id, CrmConflito.status == "pendente")),
            "duplicatas_pendentes": _count(session, select(func.count()).select_from(CrmDuplicata).where(
                CrmDuplicata.id_integracao == integ.id, CrmDuplicata.status == "pendente")),
            "requisicoes_hoje": None,
            "cota_diaria": None,
        })
    return result


def nav_counts(session: Session, loja_id: int) -> dict[str, int]:
    """Badges of the navigation: what is waiting for a person."""
    return {
        "conflitos": _count(session, select(func.count()).select_from(CrmConflito).where(
            CrmConflito.id_loja == loja_id, CrmConflito.status == "pendente")),
        "duplicatas": _count(session, select(func.count()).select_from(CrmDuplicata).where(
            CrmDuplicata.id_loja == loja_id, CrmDuplicata.status == "pendente")),
        "falhas": _count(session, select(func.count()).select_from(CrmItemFalho).where(
            CrmItemFalho.id_loja == loja_id, CrmItemFalho.status.in_(OPEN_FAILED_STATUSES))),
    }
