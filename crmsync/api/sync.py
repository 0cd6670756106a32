"""Sync trigger routes: push one record, import an entity, sync a whole store, read a job.

Each route is one thin call into an operation of `crmsync.services.sync` (shared with the
CLI); `as_http` maps the services' errors to `{"detail": ...}` with the status they mean.

A manual run is a job (issue #12): by default the route validates, queues it and answers
202 with the job (`{id, status: "na_fila", ...}`, `Location: /api/crm/jobs/{id}`), so a
slow CRM never holds an API worker and the run waits its integration's turn like every other
job. `?esperar=true` keeps the old synchronous answer (200 with the run's summary) for
callers written against it (the PHP ERP): the run then happens in the request, still
taking its integration's turn (503 with Retry-After when that does not come in time).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import APIRouter, HTTPException, Response
from pydantic import BaseModel, ConfigDict, Field

from crmsync.api.deps import LojaDep
from crmsync.api.limits import ReleasingRoute
from crmsync.config import ConfigError
from crmsync.services.errors import ServiceError
from crmsync.services.lojas import StoreKey
from crmsync.services.sync import (
    ProviderUnavailableError,
    import_entity,
    job_status,
    push_record,
    queue_run,
    sync_store,
)

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


router = APIRouter(route_class=ReleasingRoute, prefix="/api/crm", tags=["sync"])


class SyncBody(BaseModel):
    """Body of `POST /api/crm/sync` (optional)."""

    model_config = ConfigDict(extra="forbid")
    entidades: list[str] | None = Field(default=None, description="cliente, produto, venda; vazio = todas")
    dry_run: bool = False


def _actor(loja: StoreKey) -> str:
    return f"api:{loja.api_key_prefix}"


def _accepted(response: Response, job: dict[str, Any]) -> dict[str, Any]:
    response.status_code = 202
    response.headers["Location"] = f"/api/crm/jobs/{job['id']}"
    return job


@router.post("/sync/import/{entity}")
def post_import(
    loja: LojaDep, entity: str, response: Response, full: bool = False, dry_run: bool = False, esperar: bool = False
) -> dict[str, Any]:
    """Pull as a job: 202 with the job. With `?esperar=true`, pull now and answer 200
    `{success, total_processados, total_criados, total_atualizados, total_vinculados,
    total_ignorados, erros}` (plus conflicts, deletes, pages)."""
    with as_http():
        if not esperar:
            job = queue_run(loja.id, "pull", entity=entity, full=full, dry_run=dry_run, actor=_actor(loja))
            return _accepted(response, job)
        return import_entity(loja.id, entity, full=full, dry_run=dry_run, actor=_actor(loja)).as_dict()


@router.post("/sync/{entity}/{entity_id}")
def post_push_one(
    loja: LojaDep, entity: str, entity_id: int, response: Response, dry_run: bool = False, esperar: bool = False
) -> dict[str, Any]:
    """Push one record as a job: 202 with the job. With `?esperar=true`, push now and answer
    200 `{success, operacao, external_id}`."""
    with as_http():
        if not esperar:
            job = queue_run(
                loja.id, "push_one", entity=entity, entity_id=entity_id, dry_run=dry_run, actor=_actor(loja)
            )
            return _accepted(response, job)
        return push_record(loja.id, entity, entity_id, dry_run=dry_run, actor=_actor(loja)).as_dict()


@router.post("/sync")
def post_sync(loja: LojaDep, response: Response, body: SyncBody | None = None, esperar: bool = False) -> dict[str, Any]:
    """Both directions, then settled conflicts, as a job: 202 with the job. With
    `?esperar=true`, run now and answer 200 `{para_crm, do_crm, conflitos}`."""
    body = body or SyncBody()
    with as_http():
        if not esperar:
            job = queue_run(loja.id, "sync", entities=body.entidades, dry_run=body.dry_run, actor=_actor(loja))
            return _accepted(response, job)
        return sync_store(loja.id, body.entidades, dry_run=body.dry_run, actor=_actor(loja)).as_dict()


@router.get("/jobs/{job_id}")
def get_job(loja: LojaDep, job_id: str) -> dict[str, Any]:
    """A manual run of this store: `{id, tipo, status (na_fila|executando|concluido|erro),
    sucesso, resultado, erro, parametros, criado_em, iniciado_em, terminado_em}`."""
    with as_http():
        return job_status(loja.id, job_id)
