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
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session
from typing_extensions import TypedDict  # pydantic (FastAPI responses) needs this one on 3.11

from crmsync.db.sync import CrmConflito, CrmDuplicata, CrmSyncLog

_Stmt = TypeVar("_Stmt", bound=Select)

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


# ------------------------------------------------------------------------------ review items


def _review_item(row: CrmConflito | CrmDuplicata) -> dict[str, Any]:
    """The facts a conflict and a duplicate suggestion share (`db.sync._ReviewItem`)."""
    return {
        "id": row.id,
        "id_loja": row.id_loja,
        "id_integracao": row.id_integracao,
        "entity_type": row.entity_type,
        "entity_id": row.entity_id,
        "external_id": row.external_id,
        "dados_local": row.dados_local or {},
        "dados_externo": row.dados_externo or {},
        "status": row.status,
        "resolvido_por": row.resolvido_por,
        "resolvido_em": _iso(row.resolvido_em),
        "criado_em": _iso(row.criado_em),
    }


def conflict_to_dict(row: CrmConflito) -> dict[str, Any]:
    """Every stored fact of a conflict; `campos` is {field: {base, local, externo, ...}}."""
    campos = row.campos or {}
    return {**_review_item(row), "campos": campos, "nomes_campos": sorted(campos), "resolucao": row.resolucao}


def duplicate_to_dict(row: CrmDuplicata) -> dict[str, Any]:
    return {**_review_item(row), "score": float(row.score), "motivo": row.motivo}


def _list_filters(
    model: type[CrmConflito] | type[CrmDuplicata] | type[CrmSyncLog],
    loja_id: int | None,
    status: str | None,
    entity_type: str | None,
) -> Select[Any]:
    """The store/status/entity filters shared by the conflict, duplicate and log lists."""
    return _where_given(
        select(model), (model.id_loja, loja_id), (model.status, status), (model.entity_type, entity_type)
    )


def _where_given(stmt: _Stmt, *filters: tuple[Any, Any]) -> _Stmt:
    """`column == value` for each (column, value) whose value is given: None filters nothing."""
    for column, value in filters:
        if value is not None:
            stmt = stmt.where(column == value)
    return stmt


_Row = TypeVar("_Row", CrmConflito, CrmDuplicata)


@dataclass(frozen=True)
class _ReviewQueue(Generic[_Row]):
    """The list and the look-up of one kind of review item: conflicts and duplicate
    suggestions are listed, paged, filtered and scoped to a store the same way; only the
    table, its statuses, its order and its dict differ."""

    model: type[_Row]
    statuses: tuple[str, ...]
    order: tuple[Any, ...]
    to_dict: Callable[[_Row], dict[str, Any]]

    def list(
        self,
        session: Session,
        *,
        loja_id: int | None = None,
        status: str | None = "pendente",
        entity_type: str | None = None,
        limit: int | None = DEFAULT_LIMIT,
        offset: int | None = 0,
    ) -> PageDict:
        """Pending only by default (`status=None` lists all)."""
        _check_choice("status", status, self.statuses)
        lim, off = _clamp(limit, offset)
        stmt = _list_filters(self.model, loja_id, status, entity_type).order_by(*self.order)
        return _page(session, stmt, lim, off, self.to_dict)

    def count_pending(self, session: Session, *, loja_id: int | None = None, integracao_id: int | None = None) -> int:
        """How many wait for a person (a store's, or one integration's): the console's badges."""
        stmt = select(func.count()).select_from(self.model).where(self.model.status == "pendente")
        stmt = _where_given(stmt, (self.model.id_loja, loja_id), (self.model.id_integracao, integracao_id))
        return int(session.scalar(stmt) or 0)

    def get(self, session: Session, item_id: int, *, loja_id: int | None = None) -> dict[str, Any] | None:
        """One item, or None when missing or (with `loja_id`) owned by another store."""
        row = session.get(self.model, item_id)
        if row is None or (loja_id is not None and row.id_loja != loja_id):
            return None
        return self.to_dict(row)


# Conflicts, newest first.
_CONFLICTS = _ReviewQueue(
    CrmConflito, CONFLICT_STATUSES, (CrmConflito.criado_em.desc(), CrmConflito.id.desc()), conflict_to_dict
)
list_conflicts = _CONFLICTS.list
get_conflict = _CONFLICTS.get
count_pending_conflicts = _CONFLICTS.count_pending

# Duplicate suggestions, best score first.
_DUPLICATES = _ReviewQueue(
    CrmDuplicata, DUPLICATE_STATUSES, (CrmDuplicata.score.desc(), CrmDuplicata.id.desc()), duplicate_to_dict
)
list_duplicates = _DUPLICATES.list
get_duplicate = _DUPLICATES.get
count_pending_duplicates = _DUPLICATES.count_pending


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
    stmt = _where_given(
        _list_filters(CrmSyncLog, loja_id, status, entity_type),
        (CrmSyncLog.direcao, direction),
        (CrmSyncLog.tipo, trigger),
        (CrmSyncLog.run_id, run_id),
        (CrmSyncLog.entity_id, entity_id),
        (CrmSyncLog.external_id, external_id),
    )
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
    stmt = _where_given(
        select(CrmSyncLog.status, func.count()).group_by(CrmSyncLog.status),
        (CrmSyncLog.id_loja, loja_id),
        (CrmSyncLog.run_id, run_id),
    )
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
    "count_pending_duplicates",
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
