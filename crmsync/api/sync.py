"""Sync trigger routes: push one record, import an entity, sync a whole store.

Each route is one thin call into an operation of `crmsync.services.sync` (shared with the
CLI); `as_http` maps the services' errors to `{"detail": ...}` with the status they mean.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, ConfigDict, Field

from crmsync.api.deps import LojaDep
from crmsync.config import ConfigError
from crmsync.db.local import Loja
from crmsync.services.errors import ServiceError
from crmsync.services.sync import ProviderUnavailableError, import_entity, push_record, sync_store

# ------------------------------------------------------------------------------ REST


def http_error(exc: Exception) -> HTTPException:
    """Our errors -> `{"detail": ...}` with the status they mean (never a stack trace)."""
    if isinstance(exc, ProviderUnavailableError) and exc.retry_after:
        return HTTPException(
            status_code=exc.status_code,
            detail=exc.detail(),
            headers={"Retry-After": str(max(1, round(exc.retry_after)))},
        )
    if isinstance(exc, ServiceError):
        return HTTPException(status_code=exc.status_code, detail=exc.detail())
    if isinstance(exc, ConfigError):
        return HTTPException(status_code=409, detail=str(exc))
    if isinstance(exc, LookupError):
        return HTTPException(status_code=404, detail=str(exc.args[0]) if exc.args else "não encontrado")
    if isinstance(exc, ValueError):
        return HTTPException(status_code=422, detail=str(exc))
    raise exc


@contextmanager
def as_http() -> Iterator[None]:
    try:
        yield
    except (ServiceError, ConfigError, LookupError, ValueError) as exc:
        raise http_error(exc) from None


router = APIRouter(prefix="/api/crm", tags=["sync"])


class SyncBody(BaseModel):
    """Body of `POST /api/crm/sync` (optional)."""

    model_config = ConfigDict(extra="forbid")
    entidades: list[str] | None = Field(default=None, description="cliente, produto, venda; vazio = todas")
    dry_run: bool = False


def _actor(loja: Loja) -> str:
    return f"api:{loja.api_key_prefix}"


@router.post("/sync/import/{entity}")
def post_import(loja: LojaDep, entity: str, full: bool = False, dry_run: bool = False) -> dict[str, Any]:
    """Pull now: `{success, total_processados, total_criados, total_atualizados,
    total_vinculados, total_ignorados, erros}` (plus conflicts, deletes, pages)."""
    with as_http():
        return import_entity(loja.id, entity, full=full, dry_run=dry_run, actor=_actor(loja)).as_dict()


@router.post("/sync/{entity}/{entity_id}")
def post_push_one(loja: LojaDep, entity: str, entity_id: int, dry_run: bool = False) -> dict[str, Any]:
    """Push one record now: `{success, operacao, external_id}`."""
    with as_http():
        return push_record(loja.id, entity, entity_id, dry_run=dry_run, actor=_actor(loja)).as_dict()


@router.post("/sync")
def post_sync(loja: LojaDep, body: SyncBody | None = None) -> dict[str, Any]:
    """Both directions, then settled conflicts: `{para_crm, do_crm, conflitos}`."""
    body = body or SyncBody()
    with as_http():
        return sync_store(loja.id, body.entidades, dry_run=body.dry_run, actor=_actor(loja)).as_dict()
