"""Dependencies shared by every router: a database session, the calling store, the admin.

`Authorization: Bearer <store API key>` resolves to that store (`LojaDep`); every local-data
and sync route is scoped by it. Admin routes take `Authorization: Bearer <CRMSYNC_ADMIN_TOKEN>`
(`AdminDep`). A missing or wrong credential is a 401 that says nothing about what exists.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from crmsync.db.session import get_sessionmaker
from crmsync.services.lojas import StoreKey, cached_store_for_api_key, store_for_api_key
from crmsync.settings import get_settings

_admin_bearer = HTTPBearer(auto_error=False, scheme_name="AdminToken", description="CRMSYNC_ADMIN_TOKEN.")
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


async def get_session() -> Session:
    """One session per request, on the configured database. Services commit their own units
    of work. It takes a connection only when first used, and the route class of every API
    router closes it in the route's own thread as the route returns, rolling back what was
    not committed (`crmsync.api.limits.ReleasingRoute`, which refuses an async route taking
    one), so no connection waits on the next thread hop.

    A plain async function, not a generator with a `finally`: making a session does no I/O,
    and the cleanup FastAPI runs for a generator dependency (an exit stack, a context
    manager, a cancel scope) was a few percent of a busy process's CPU, for a close the
    route's thread already does. A session made for a request that then fails before its
    route runs (a 401, a 422) never took a connection: nothing to give back."""
    return get_sessionmaker()()


SessionDep = Annotated[Session, Depends(get_session)]


class _StoreKeyBearer(HTTPBearer):
    """`Authorization: Bearer <store API key>` resolved to its store, in one dependency.

    An `HTTPBearer` itself (so the OpenAPI document keeps the `LojaApiKey` scheme on every
    route that takes it) whose call goes on to the store: one dependency instead of a
    dependency on the bearer's, which FastAPI resolved at a cost per request."""

    async def __call__(self, request: Request) -> StoreKey:  # type: ignore[override]
        """The store whose API key is in the `Authorization: Bearer` header (401 otherwise).

        From the process's short key cache when it has the key (on the event loop: no I/O,
        no thread); otherwise looked up in a session of its own in the thread pool, closed
        before this returns, so the request then waits for its route's thread holding no
        connection (issue #20). A rotated or revoked key is dropped from the cache as the
        change commits (`crmsync.services.lojas`)."""
        credentials = await super().__call__(request)
        if credentials is None or not credentials.credentials:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "chave de API ausente (Authorization: Bearer <chave>)",
                headers=_CHALLENGE,
            )
        key = credentials.credentials
        loja = cached_store_for_api_key(key) or await run_in_threadpool(store_for_api_key, key)
        if loja is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "chave de API inválida", headers=_CHALLENGE)
        return loja


current_loja = _StoreKeyBearer(
    auto_error=False, scheme_name="LojaApiKey", description="Chave de API da loja (`crmsync loja add`)."
)
LojaDep = Annotated[StoreKey, Depends(current_loja)]


def require_admin(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_admin_bearer)],
) -> str:
    """Check the admin token; answer 403 when no CRMSYNC_ADMIN_TOKEN is configured at all
    (administration over HTTP is then switched off; the CLI still works)."""
    expected = get_settings().admin_token
    if not expected:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "administração via API desativada: defina CRMSYNC_ADMIN_TOKEN")
    given = credentials.credentials if credentials is not None else ""
    if not given or not hmac.compare_digest(given.encode(), expected.encode()):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "token de administração ausente ou inválido", headers=_CHALLENGE
        )
    return "admin"


AdminDep = Annotated[str, Depends(require_admin)]
