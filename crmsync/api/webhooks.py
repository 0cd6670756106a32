"""`POST /api/crm/webhook/{provider}/{token}`: receive provider webhooks.

The route reads the raw body and the signature headers and hands them to
`crmsync.services.webhooks.accept_delivery` (verification, storage, queueing; the scheme is
described there), answering 202 at once.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from crmsync.api.limits import ReleasingRoute
from crmsync.services.errors import ServiceError
from crmsync.services.webhooks import accept_delivery

router = APIRouter(route_class=ReleasingRoute, tags=["webhooks"])

_PREFIXES = ("x-sandbox-", "x-crmsync-")


def _header(request: Request, name: str) -> str | None:
    for prefix in _PREFIXES:
        value = request.headers.get(prefix + name)
        if value:
            return value
    return None


@router.post("/api/crm/webhook/{provider}/{token}", status_code=202)
async def receive_webhook(provider: str, token: str, request: Request) -> JSONResponse:
    """Verify, store (once per delivery id) and acknowledge; processing happens in a job."""
    body = await request.body()
    timestamp = _header(request, "timestamp")
    signature = _header(request, "signature")
    delivery_header = _header(request, "delivery")
    try:
        result = await run_in_threadpool(accept_delivery, provider, token, body, timestamp, signature, delivery_header)
    except ServiceError as exc:
        raise HTTPException(exc.status_code, exc.detail()) from None
    return JSONResponse(result, status_code=202)
