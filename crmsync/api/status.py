"""Status, Prometheus metrics, and failed-item actions of the calling store.

- `GET /api/crm/status`: per integration health (`crmsync.services.status`).
- `GET /metrics`: Prometheus text, behind `CRMSYNC_METRICS_TOKEN` (bearer) when it is set.
  Counters kept by the jobs in the shared runtime state, so every worker process is included
  whichever process is scraped. Its own router (`metrics_router`): with `crmsync serve
  --metrics-port` it is served only there, not on the API's port.
- `GET /api/crm/falhas`, `POST /api/crm/falhas/{id}/retry`, `POST /api/crm/falhas/{id}/ignorar`
  (`crmsync.services.failures`).
"""

from __future__ import annotations

import hmac
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Response, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST

from crmsync.api.deps import LojaDep, SessionDep
from crmsync.api.limits import ReleasingRoute
from crmsync.services.failures import ignore_item, item_to_dict, list_items, retry_item
from crmsync.services.metrics import metrics_text
from crmsync.services.status import store_status
from crmsync.settings import get_settings

router = APIRouter(route_class=ReleasingRoute, tags=["status"])
metrics_router = APIRouter(route_class=ReleasingRoute, tags=["status"])
log = logging.getLogger("crmsync.status")


@router.get("/api/crm/status")
def crm_status(loja: LojaDep, session: SessionDep) -> dict[str, Any]:
    """Per-integration health of the calling store."""
    return store_status(session, loja.id)


# ----------------------------------------------------------------------------- failed items


@router.get("/api/crm/falhas")
def list_failed(
    loja: LojaDep,
    session: SessionDep,
    status_: str | None = Query(None, alias="status"),
    limit: int = Query(100, ge=1, le=1000),
) -> dict[str, Any]:
    items = list_items(session, loja.id, status_, limit)
    return {"itens": [item_to_dict(i) for i in items], "total": len(items)}


@router.post("/api/crm/falhas/{item_id}/retry")
def retry_failed_item(item_id: int, loja: LojaDep, session: SessionDep) -> dict[str, Any]:
    try:
        item, queued = retry_item(session, item_id, loja.id)
    except LookupError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except ValueError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    return {"success": True, "enfileirado": queued, "item": item_to_dict(item)}


@router.post("/api/crm/falhas/{item_id}/ignorar")
def ignore_failed_item(item_id: int, loja: LojaDep, session: SessionDep) -> dict[str, Any]:
    try:
        item = ignore_item(session, item_id, loja.id)
    except LookupError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    return {"success": True, "item": item_to_dict(item)}


_metrics_bearer = HTTPBearer(auto_error=False, scheme_name="MetricsToken", description="CRMSYNC_METRICS_TOKEN.")


def require_metrics_token(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_metrics_bearer)],
) -> None:
    """With `CRMSYNC_METRICS_TOKEN` set, the scraper must send it as a bearer token (the
    counters name stores and integrations); unset, /metrics stays open as before."""
    expected = get_settings().metrics_token
    if not expected:
        return
    given = credentials.credentials if credentials is not None else ""
    if not given or not hmac.compare_digest(given.encode(), expected.encode()):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "token de métricas ausente ou inválido (Authorization: Bearer <CRMSYNC_METRICS_TOKEN>)",
            headers={"WWW-Authenticate": "Bearer"},
        )


@metrics_router.get("/metrics", include_in_schema=False, dependencies=[Depends(require_metrics_token)])
def metrics() -> Response:
    """Prometheus text format."""
    return Response(metrics_text(), media_type=CONTENT_TYPE_LATEST)
