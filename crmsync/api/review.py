"""Review: pending conflicts and their resolution, duplicate suggestions, the sync log.

Why: a conflict the engine refused to settle by itself (the spec's 7.3, "João Silva Santos"
against "J. Silva") waits here until a person decides, and the decision must reach both
sides. `resolve_conflict_now` / `resolve_duplicate_now` are the one function each route
calls (and the CLI too), so validation and store scoping happen once, before the engine
writes anything: a conflict of another store is 404 exactly like a missing one, a conflict
already decided is 409, a bad choice or an unknown field is 422.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session, sessionmaker

from crmsync.api.deps import LojaDep, SessionDep
from crmsync.api.sync import (
    IntegrationUnavailableError,
    as_http,
    open_engine,
    resolve_entity,
)
from crmsync.db.local import Loja
from crmsync.db.session import get_sessionmaker
from crmsync.db.sync import CrmConflito, CrmDuplicata
from crmsync.engine_queries import (
    PageDict,
    get_conflict,
    get_duplicate,
    list_conflicts,
    list_duplicates,
    list_log,
    parse_duration,
)
from crmsync.services.errors import InvalidInputError, NotFoundError
from crmsync.services.ids import MAX_OFFSET

USAR_CHOICES = ("local", "externo", "merge")
SIDE_ALIASES = {"local": "local", "externo": "externo", "external": "externo"}
ACAO_CHOICES = ("vincular", "descartar")


# ------------------------------------------------------------------------------ operations


def resolve_conflict_now(
    conflito_id: int,
    usar: str,
    campos: dict[str, str] | None = None,
    *,
    actor: str | None = None,
    loja_id: int | None = None,
    session_factory: sessionmaker[Session] | None = None,
) -> dict[str, Any]:
    """Apply a person's decision on a conflict to both sides (engine.resolve_conflict).

    `usar`: local | externo | merge; with merge, `campos` maps each field to local|externo
    (`external` accepted). With `loja_id`, a conflict of another store is "not found".
    """
    usar_norm = SIDE_ALIASES.get((usar or "").strip().lower(), (usar or "").strip().lower())
    if usar_norm not in USAR_CHOICES:
        raise InvalidInputError(f"valor inválido '{usar}' (use local, externo ou merge)", ("usar",))
    factory = session_factory or get_sessionmaker()
    with factory() as session:
        row = session.get(CrmConflito, conflito_id)
        if row is None or (loja_id is not None and row.id_loja != loja_id):
            raise NotFoundError(f"conflito {conflito_id} não encontrado")
        if row.status != "pendente":
            raise IntegrationUnavailableError(
                f"conflito {conflito_id} já foi resolvido" + (f" por {row.resolvido_por}" if row.resolvido_por else "")
            )
        known = set((row.campos or {}).keys())
        owner, integ_id = row.id_loja, row.id_integracao
    chosen: dict[str, str] = {}
    for name, side in (campos or {}).items():
        if name not in known:
            raise InvalidInputError(
                f"campo '{name}' não está em conflito (campos em conflito: {', '.join(sorted(known)) or '-'})",
                ("campos", name),
            )
        side_norm = SIDE_ALIASES.get(str(side).strip().lower())
        if side_norm is None:
            raise InvalidInputError(f"valor inválido '{side}' (use local ou externo)", ("campos", name))
        chosen[name] = side_norm
    if chosen and usar_norm != "merge":
        raise InvalidInputError("'campos' só vale com usar=merge", ("campos",))
    with open_engine(owner, trigger="manual", actor=actor, session_factory=factory, integracao_id=integ_id) as engine:
        return engine.resolve_conflict(conflito_id, usar_norm, chosen or None, actor=actor)


def resolve_duplicate_now(
    duplicata_id: int,
    acao: str,
    *,
    actor: str | None = None,
    loja_id: int | None = None,
    session_factory: sessionmaker[Session] | None = None,
) -> dict[str, Any]:
    """Link (and merge) or dismiss a fuzzy duplicate suggestion (engine.resolve_duplicate)."""
    acao_norm = {"link": "vincular", "dismiss": "descartar"}.get(
        (acao or "").strip().lower(), (acao or "").strip().lower()
    )
    if acao_norm not in ACAO_CHOICES:
        raise InvalidInputError(f"valor inválido '{acao}' (use vincular ou descartar)", ("acao",))
    factory = session_factory or get_sessionmaker()
    with factory() as session:
        row = session.get(CrmDuplicata, duplicata_id)
        if row is None or (loja_id is not None and row.id_loja != loja_id):
            raise NotFoundError(f"duplicata {duplicata_id} não encontrada")
        if row.status != "pendente":
            raise IntegrationUnavailableError(f"duplicata {duplicata_id} já foi tratada ({row.status})")
        owner, integ_id = row.id_loja, row.id_integracao
    with open_engine(owner, trigger="manual", actor=actor, session_factory=factory, integracao_id=integ_id) as engine:
        return engine.resolve_duplicate(duplicata_id, acao_norm, actor=actor)


# ------------------------------------------------------------------------------ REST

router = APIRouter(prefix="/api/crm", tags=["review"])


class ResolverConflito(BaseModel):
    model_config = ConfigDict(extra="forbid")
    usar: Literal["local", "externo", "merge"]
    campos: dict[str, Literal["local", "externo"]] = Field(
        default_factory=dict, description="com usar=merge: {campo: local|externo}"
    )
    resolvido_por: str | None = Field(default=None, max_length=100)


class ResolverDuplicata(BaseModel):
    model_config = ConfigDict(extra="forbid")
    acao: Literal["vincular", "descartar"]
    resolvido_por: str | None = Field(default=None, max_length=100)


def _status_filter(status: str | None, default: str) -> str | None:
    if status is None:
        return default
    return None if status == "todos" else status


def _actor(loja: Loja, named: str | None) -> str:
    return named or f"api:{loja.api_key_prefix}"


@router.get("/conflitos")
def get_conflitos(
    loja: LojaDep,
    session: SessionDep,
    status: str | None = Query(None, description="pendente (padrão), resolvido ou todos"),
    entidade: str | None = None,
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
) -> PageDict:
    with as_http():
        ent = resolve_entity(entidade) if entidade else None
        return list_conflicts(
            session,
            loja_id=loja.id,
            status=_status_filter(status, "pendente"),
            entity_type=ent,
            limit=limit,
            offset=offset,
        )


@router.get("/conflitos/{conflito_id}")
def get_conflito(conflito_id: int, loja: LojaDep, session: SessionDep) -> dict[str, Any]:
    with as_http():
        found = get_conflict(session, conflito_id, loja_id=loja.id)
        if found is None:
            raise NotFoundError(f"conflito {conflito_id} não encontrado")
        return found


@router.post("/conflitos/{conflito_id}/resolver")
def post_resolver_conflito(conflito_id: int, body: ResolverConflito, loja: LojaDep) -> dict[str, Any]:
    with as_http():
        return resolve_conflict_now(
            conflito_id, body.usar, dict(body.campos) or None, actor=_actor(loja, body.resolvido_por), loja_id=loja.id
        )


@router.get("/duplicatas")
def get_duplicatas(
    loja: LojaDep,
    session: SessionDep,
    status: str | None = Query(None, description="pendente (padrão), vinculado, descartado ou todos"),
    entidade: str | None = None,
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
) -> PageDict:
    with as_http():
        ent = resolve_entity(entidade) if entidade else None
        return list_duplicates(
            session,
            loja_id=loja.id,
            status=_status_filter(status, "pendente"),
            entity_type=ent,
            limit=limit,
            offset=offset,
        )


@router.get("/duplicatas/{duplicata_id}")
def get_duplicata(duplicata_id: int, loja: LojaDep, session: SessionDep) -> dict[str, Any]:
    with as_http():
        found = get_duplicate(session, duplicata_id, loja_id=loja.id)
        if found is None:
            raise NotFoundError(f"duplicata {duplicata_id} não encontrada")
        return found


@router.post("/duplicatas/{duplicata_id}/resolver")
def post_resolver_duplicata(duplicata_id: int, body: ResolverDuplicata, loja: LojaDep) -> dict[str, Any]:
    with as_http():
        return resolve_duplicate_now(duplicata_id, body.acao, actor=_actor(loja, body.resolvido_por), loja_id=loja.id)


@router.get("/logs")
def get_logs(
    loja: LojaDep,
    session: SessionDep,
    status: str | None = Query(None, description="sucesso, erro, ignorado, conflito, simulado"),
    entidade: str | None = None,
    direcao: str | None = Query(None, description="push, pull ou conflito"),
    tipo: str | None = Query(None, description="automatico, manual, cron, webhook, bulk"),
    desde: str | None = Query(None, description="período (30m, 24h, 7d) ou data ISO 8601"),
    ate: datetime | None = Query(None, description="data ISO 8601"),
    run_id: str | None = None,
    entity_id: int | None = None,
    external_id: str | None = None,
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
) -> PageDict:
    with as_http():
        ent = resolve_entity(entidade) if entidade else None
        since: Any = None
        if desde:
            try:
                since = parse_duration(desde)
            except ValueError:
                try:
                    since = datetime.fromisoformat(desde.replace("Z", "+00:00"))
                except ValueError:
                    raise InvalidInputError(f"'{desde}' não é um período (24h) nem uma data ISO", ("desde",)) from None
        return list_log(
            session,
            loja_id=loja.id,
            status=status,
            entity_type=ent,
            direction=direcao,
            trigger=tipo,
            since=since,
            until=ate,
            run_id=run_id,
            entity_id=entity_id,
            external_id=external_id,
            limit=limit,
            offset=offset,
        )
