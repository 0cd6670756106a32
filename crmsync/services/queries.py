"""Read-only queries over the crm_* tables for lists: conflicts, duplicate suggestions and
the sync log, with filters and pagination.

Why a module of its own: the CLI (`crmsync conflicts list`, `crmsync log`), the REST API
(`GET /api/crm/conflitos`, `/duplicatas`, `/logs`) and the web console all show the same
lists, and must filter them the same way and scope them to a store the same way. Every
function takes an open SQLAlchemy session, never writes, and returns plain JSON-able dicts
(datetimes as ISO 8601 strings in UTC), so callers can print, serialise or template them
without touching ORM objects after the session closes.

Store scoping: when `loja_id` is given, a row of another store is never returned (a `get_*`
answers None, exactly as for a missing id, so an API can answer 404 without revealing that
the id exists elsewhere).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session
from typing_extensions import TypedDict  # pydantic (FastAPI responses) needs this one on 3.11

from crmsync.db.sync import CrmConflito, CrmDuplicata, CrmSyncLog

MAX_LIMIT = 500
DEFAULT_LIMIT = 50

CONFLICT_STATUSES = ("pendente", "resolvido")
DUPLICATE_STATUSES = ("pendente", "vinculado", "descartado")
LOG_STATUSES = ("sucesso", "erro", "ignorado", "conflito", "simulado")
LOG_DIRECTIONS = ("push", "pull", "conflito")
LOG_TRIGGERS = ("automatico", "manual", "cron", "webhook", "bulk")

_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


class PageDict(TypedDict):
    """One page of a list: `items` are plain dicts; `total` counts every matching row."""

    total: int
    limit: int
    offset: int
    items: list[dict[str, Any]]


# ------------------------------------------------------------------------------ helpers


def parse_duration(text: str) -> timedelta:
    """`30m`, `24h`, `7d` (also `90s`, `2w`) -> timedelta.

    Raises ValueError with a message a store user can act on; zero is refused because
    "changed in the last 0 hours" is always a typing mistake.
    """
    match = _DURATION.match(text or "")
    if not match:
        raise ValueError(f"período inválido '{text}' (use por exemplo 30m, 24h ou 7d)")
    amount = int(match.group(1))
    if amount <= 0:
        raise ValueError(f"período inválido '{text}' (deve ser maior que zero)")
    return timedelta(seconds=amount * _UNIT_SECONDS[match.group(2).lower()])


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat()


def _clamp(limit: int | None, offset: int | None) -> tuple[int, int]:
    lim = DEFAULT_LIMIT if limit is None else int(limit)
    off = 0 if offset is None else int(offset)
    if lim < 1:
        raise ValueError("limit deve ser maior que zero")
    if off < 0:
        raise ValueError("offset não pode ser negativo")
    return min(lim, MAX_LIMIT), off


def _check_choice(name: str, value: str | None, choices: tuple[str, ...]) -> None:
    if value is not None and value not in choices:
        raise ValueError(f"{name} inválido '{value}' (use um de: {', '.join(choices)})")


def _page(session: Session, stmt: Select[Any], limit: int, offset: int, to_dict: Any) -> PageDict:
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    rows = session.scalars(stmt.limit(limit).offset(offset)).all()
    return {"total": int(total), "limit": limit, "offset": offset, "items": [to_dict(r) for r in rows]}


# ------------------------------------------------------------------------------ conflicts


def conflict_to_dict(row: CrmConflito) -> dict[str, Any]:
    """Every stored fact of a conflict; `campos` is {field: {base, local, externo, ...}}."""
    return {
        "id": row.id,
        "id_loja": row.id_loja,
        "id_integracao": row.id_integracao,
        "entity_type": row.entity_type,
        "entity_id": row.entity_id,
        "external_id": row.external_id,
        "campos": row.campos or {},
        "nomes_campos": sorted((row.campos or {}).keys()),
        "dados_local": row.dados_local or {},
        "dados_externo": row.dados_externo or {},
        "status": row.status,
        "resolucao": row.resolucao,
        "resolvido_por": row.resolvido_por,
        "resolvido_em": _iso(row.resolvido_em),
        "criado_em": _iso(row.criado_em),
    }


def _list_filters(
    model: type[CrmConflito] | type[CrmDuplicata] | type[CrmSyncLog],
    loja_id: int | None,
    status: str | None,
    entity_type: str | None,
) -> Select[Any]:
    """The store/status/entity filters shared by the conflict, duplicate and log lists."""
    stmt: Select[Any] = select(model)
    if loja_id is not None:
        stmt = stmt.where(model.id_loja == loja_id)
    if status is not None:
        stmt = stmt.where(model.status == status)
    if entity_type is not None:
        stmt = stmt.where(model.entity_type == entity_type)
    return stmt


def list_conflicts(
    session: Session,
    *,
    loja_id: int | None = None,
    status: str | None = "pendente",
    entity_type: str | None = None,
    limit: int | None = DEFAULT_LIMIT,
    offset: int | None = 0,
) -> PageDict:
    """Conflicts, newest first; pending only by default (`status=None` lists all)."""
    _check_choice("status", status, CONFLICT_STATUSES)
    lim, off = _clamp(limit, offset)
    stmt = _list_filters(CrmConflito, loja_id, status, entity_type)
    stmt = stmt.order_by(CrmConflito.criado_em.desc(), CrmConflito.id.desc())
    return _page(session, stmt, lim, off, conflict_to_dict)


def get_conflict(session: Session, conflito_id: int, *, loja_id: int | None = None) -> dict[str, Any] | None:
    """One conflict, or None when missing or (with `loja_id`) owned by another store."""
    row = session.get(CrmConflito, conflito_id)
    if row is None or (loja_id is not None and row.id_loja != loja_id):
        return None
    return conflict_to_dict(row)


def count_pending_conflicts(session: Session, *, loja_id: int | None = None) -> int:
    stmt = select(func.count()).select_from(CrmConflito).where(CrmConflito.status == "pendente")
    if loja_id is not None:
        stmt = stmt.where(CrmConflito.id_loja == loja_id)
    return int(session.scalar(stmt) or 0)


# ------------------------------------------------------------------------------ duplicates


def duplicate_to_dict(row: CrmDuplicata) -> dict[str, Any]:
    return {
        "id": row.id,
        "id_loja": row.id_loja,
        "id_integracao": row.id_integracao,
        "entity_type": row.entity_type,
        "entity_id": row.entity_id,
        "external_id": row.external_id,
        "score": float(row.score),
        "motivo": row.motivo,
        "dados_local": row.dados_local or {},
        "dados_externo": row.dados_externo or {},
        "status": row.status,
        "resolvido_por": row.resolvido_por,
        "resolvido_em": _iso(row.resolvido_em),
        "criado_em": _iso(row.criado_em),
    }


def list_duplicates(
    session: Session,
    *,
    loja_id: int | None = None,
    status: str | None = "pendente",
    entity_type: str | None = None,
    limit: int | None = DEFAULT_LIMIT,
    offset: int | None = 0,
) -> PageDict:
    """Duplicate suggestions, best score first; pending only by default."""
    _check_choice("status", status, DUPLICATE_STATUSES)
    lim, off = _clamp(limit, offset)
    stmt = _list_filters(CrmDuplicata, loja_id, status, entity_type)
    stmt = stmt.order_by(CrmDuplicata.score.desc(), CrmDuplicata.id.desc())
    return _page(session, stmt, lim, off, duplicate_to_dict)


def get_duplicate(session: Session, duplicata_id: int, *, loja_id: int | None = None) -> dict[str, Any] | None:
    row = session.get(CrmDuplicata, duplicata_id)
    if row is None or (loja_id is not None and row.id_loja != loja_id):
        return None
    return duplicate_to_dict(row)


# ------------------------------------------------------------------------------ sync log


def log_to_dict(row: CrmSyncLog) -> dict[str, Any]:
    return {
        "id": row.id,
        "id_loja": row.id_loja,
        "id_integracao": row.id_integracao,
        "run_id": row.run_id,
        "tipo": row.tipo,
        "direcao": row.direcao,
        "operacao": row.operacao,
        "entity_type": row.entity_type,
        "entity_id": row.entity_id,
        "external_id": row.external_id,
        "status": row.status,
        "mensagem": row.mensagem,
        "duracao_ms": row.duracao_ms,
        "diff": row.diff,
        "criado_em": _iso(row.criado_em),
    }


def list_log(
    session: Session,
    *,
    loja_id: int | None = None,
    status: str | None = None,
    entity_type: str | None = None,
    direction: str | None = None,
    trigger: str | None = None,
    run_id: str | None = None,
    entity_id: int | None = None,
    external_id: str | None = None,
    since: datetime | timedelta | None = None,
    until: datetime | None = None,
    limit: int | None = DEFAULT_LIMIT,
    offset: int | None = 0,
    now: datetime | None = None,
) -> PageDict:
    """Sync log rows, newest first.

    `direction` is the stored `direcao` (push | pull | conflito), `trigger` the stored `tipo`
    (automatico | manual | cron | webhook | bulk). `since` is either an absolute time or a
    period back from `now` (so `--since 24h` and `?desde=2025-01-14T10:00:00Z` share one path).
    """
    _check_choice("status", status, LOG_STATUSES)
    _check_choice("direcao", direction, LOG_DIRECTIONS)
    _check_choice("tipo", trigger, LOG_TRIGGERS)
    lim, off = _clamp(limit, offset)
    stmt = _list_filters(CrmSyncLog, loja_id, status, entity_type)
    if direction is not None:
        stmt = stmt.where(CrmSyncLog.direcao == direction)
    if trigger is not None:
        stmt = stmt.where(CrmSyncLog.tipo == trigger)
    if run_id is not None:
        stmt = stmt.where(CrmSyncLog.run_id == run_id)
    if entity_id is not None:
        stmt = stmt.where(CrmSyncLog.entity_id == entity_id)
    if external_id is not None:
        stmt = stmt.where(CrmSyncLog.external_id == external_id)
    if since is not None:
        start = (now or datetime.now(UTC)) - since if isinstance(since, timedelta) else _aware(since)
        stmt = stmt.where(CrmSyncLog.criado_em >= start)
    if until is not None:
        stmt = stmt.where(CrmSyncLog.criado_em <= _aware(until))
    stmt = stmt.order_by(CrmSyncLog.criado_em.desc(), CrmSyncLog.id.desc())
    return _page(session, stmt, lim, off, log_to_dict)


def _aware(value: datetime) -> datetime:
    """A naive datetime from a query string is taken as UTC (the log is stored in UTC)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def log_counts_by_status(session: Session, *, loja_id: int | None = None, run_id: str | None = None) -> dict[str, int]:
    """{status: n}: lets a summary say "12 sucesso, 1 erro" without listing every row."""
    stmt = select(CrmSyncLog.status, func.count()).group_by(CrmSyncLog.status)
    if loja_id is not None:
        stmt = stmt.where(CrmSyncLog.id_loja == loja_id)
    if run_id is not None:
        stmt = stmt.where(CrmSyncLog.run_id == run_id)
    return {str(s): int(n) for s, n in session.execute(stmt)}


__all__ = [
    "CONFLICT_STATUSES",
    "DUPLICATE_STATUSES",
    "LOG_DIRECTIONS",
    "LOG_STATUSES",
    "LOG_TRIGGERS",
    "PageDict",
    "conflict_to_dict",
    "count_pending_conflicts",
    "duplicate_to_dict",
    "get_conflict",
    "get_duplicate",
    "list_conflicts",
    "list_duplicates",
    "list_log",
    "log_counts_by_status",
    "log_to_dict",
    "parse_duration",
]
