"""Review routes: pending conflicts and their resolution, duplicate suggestions, the sync log.

Listing and reading go through `crmsync.services.queries`; resolving through
`crmsync.services.review` (shared with the CLI)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from crmsync.api.deps import LojaDep, SessionDep
from crmsync.api.limits import ReleasingRoute
from crmsync.api.sync import as_http
from crmsync.services.errors import InvalidInputError, NotFoundError
from crmsync.services.ids import MAX_OFFSET
from crmsync.services.lojas import StoreKey
from crmsync.services.queries import (
    PageDict,
    get_conflict,
    get_duplicate,
    list_conflicts,
    list_duplicates,
    list_log,
    parse_duration,
)
from crmsync.services.review import (
    resolve_conflict_now,
    resolve_duplicate_now,
)
from crmsync.services.sync import resolve_entity

router = APIRouter(route_class=ReleasingRoute, prefix="/api/crm", tags=["review"])


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


def _actor(loja: StoreKey, named: str | None) -> str:
    return named or f"api:{loja.api_key_prefix}"


Lister = Callable[..., PageDict]
Getter = Callable[..., "dict[str, Any] | None"]


def _review_routes(plural: str, singular: str, lister: Lister, getter: Getter, statuses: str, missing: str) -> None:
    """The list and the read of one review queue (conflicts, duplicate suggestions): the same
    scoping, filters and pagination; the resolutions differ and stay below."""

    def listing(
        loja: LojaDep,
        session: SessionDep,
        status: str | None = Query(None, description=statuses),
        entidade: str | None = None,
        limit: int = Query(50, ge=1, le=500),
        offset: int = Query(0, ge=0, le=MAX_OFFSET),
    ) -> PageDict:
        with as_http():
            ent = resolve_entity(entidade) if entidade else None
            wanted = {"status": _status_filter(status, "pendente"), "entity_type": ent}
            return lister(session, loja_id=loja.id, limit=limit, offset=offset, **wanted)

    def reading(loja: LojaDep, session: SessionDep, item_id: int = Path(alias=f"{singular}_id")) -> dict[str, Any]:
        with as_http():
            found = getter(session, item_id, loja_id=loja.id)
            if found is None:
                raise NotFoundError(missing.format(item_id))
            return found

    router.add_api_route(f"/{plural}", listing, methods=["GET"], name=f"get_{plural}")
    router.add_api_route(f"/{plural}/{{{singular}_id}}", reading, methods=["GET"], name=f"get_{singular}")


_review_routes(
    "conflitos",
    "conflito",
    list_conflicts,
    get_conflict,
    "pendente (padrão), resolvido ou todos",
    "conflito {} não encontrado",
)
_review_routes(
    "duplicatas",
    "duplicata",
    list_duplicates,
    get_duplicate,
    "pendente (padrão), vinculado, descartado ou todos",
    "duplicata {} não encontrada",
)


@router.post("/conflitos/{conflito_id}/resolver")
def post_resolver_conflito(conflito_id: int, body: ResolverConflito, loja: LojaDep) -> dict[str, Any]:
    with as_http():
        return resolve_conflict_now(
            conflito_id, body.usar, dict(body.campos) or None, actor=_actor(loja, body.resolvido_por), loja_id=loja.id
        )


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
