"""Dependencies shared by every router: a database session, the calling store, the admin.

`Authorization: Bearer <store API key>` resolves to that store (`LojaDep`); every local-data
and sync route is scoped by it. Admin routes take `Authorization: Bearer <CRMSYNC_ADMIN_TOKEN>`
(`AdminDep`). A missing or wrong credential is a 401 that says nothing about what exists.
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from crmsync.db.session import get_sessionmaker
from crmsync.services.lojas import StoreKey, cached_store_for_api_key, store_for_api_key
from crmsync.settings import get_settings

_store_bearer = HTTPBearer(
    auto_error=False, scheme_name="LojaApiKey", description="Chave de API da loja (`crmsync loja add`)."
)
_admin_bearer = HTTPBearer(auto_error=False, scheme_name="AdminToken", description="CRMSYNC_ADMIN_TOKEN.")
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


async def get_session() -> AsyncIterator[Session]:
    """One session per request, on the configured database; rolled back if the request
    fails, closed always. Services commit their own units of work. It takes a connection only
    when first used, and API routes close it in their own thread as they return
    (`crmsync.api.limits.ReleasingRoute`), so no connection waits on the next thread hop.

    Async on purpose: making a session does no I/O, and a sync generator would cost two trips
    through the thread pool per request (in and out) for nothing. A session still holding a
    connection at the end (a route that did not close it) is closed in the thread pool, never
    on the event loop."""
    session = get_sessionmaker()()
    try:
        yield session
    finally:
        if session.in_transaction():  # closing rolls back what was not committed
            await run_in_threadpool(session.close)
        else:
            session.close()


SessionDep = Annotated[Session, Depends(get_session)]


async def current_loja(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_store_bearer)],
) -> StoreKey:
    """The store whose API key is in the `Authorization: Bearer` header (401 otherwise).

    From the process's short key cache when it has the key (on the event loop: no I/O, no
    thread); otherwise looked up in a session of its own in the thread pool, closed before
    this returns, so the request then waits for its route's thread holding no connection
    (issue #20). A rotated or revoked key is dropped from the cache as the change commits
    (`crmsync.services.lojas`)."""
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
