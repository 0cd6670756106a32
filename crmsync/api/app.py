"""FastAPI application factory: every router of every area, one error shape.

Routers are listed here and owned by their modules: local data (local), administration
(admin), sync triggers (sync), review of conflicts/duplicates/log (review), webhooks,
status/metrics (status) and the web console (crmsync.web.console).

Every error answers JSON `{"detail": ...}`: validation errors as a list naming each field
(`loc`, `campo`, `msg`; the rejected input is never echoed, it may hold a secret), others as
a message. An unexpected error is logged and answered 500 without a stack trace. Bodies over
1 MiB are refused with 413 before any route reads them. Past `CRMSYNC_API_CONCURRENCY`
requests at once, a request waits briefly and then answers 503 (`crmsync.api.limits`).
"""

from __future__ import annotations

import importlib
import logging
import re
from decimal import InvalidOperation

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, OperationalError, StatementError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from crmsync.api.limits import BUSY_DETAIL, ConcurrencyLimit
from crmsync.api.status import metrics_router
from crmsync.asgi import ASGIApp, Message, Receive, Scope, Send, never_receive
from crmsync.config import ConfigError
from crmsync.db.health import RETRY_AFTER_SECONDS, is_busy, is_out_of_range, write_problem
from crmsync.db.session import get_engine
from crmsync.runtime import install_listeners
from crmsync.services.errors import ServiceError, validation_detail
from crmsync.settings import get_settings

log = logging.getLogger(__name__)

ROUTER_MODULES = (
    "crmsync.api.local",
    "crmsync.api.admin",
    "crmsync.api.sync",
    "crmsync.api.review",
    "crmsync.api.webhooks",
    "crmsync.api.status",
    "crmsync.web.console",
)

MAX_BODY_BYTES = 1024 * 1024

_GENERIC = {
    404: "não encontrado",
    405: "método não permitido",
}


class BodySizeLimit:
    """ASGI middleware: read the request body (at most `max_bytes`) before the app does, and
    answer 413 if it is larger. Reading it first also covers chunked bodies without a
    Content-Length, and means no route ever sees a half-read body."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._too_large(scope, send)
            return
        if _has_nul(scope.get("query_string") or b"", urlencoded=True) or "\x00" in scope.get("path", ""):
            await self._nul(scope, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # client went away
                await self.app(scope, _replay([], message, receive), send)
                return
            body = message.get("body", b"")
            size += len(body)
            if size > self.max_bytes:
                await self._too_large(scope, send)
                return
            chunks.append(body)
            if not message.get("more_body", False):
                break
        form = b"x-www-form-urlencoded" in dict(scope.get("headers") or []).get(b"content-type", b"")
        if _has_nul(b"".join(chunks), urlencoded=form):
            await self._nul(scope, send)
            return
        await self.app(scope, _replay(chunks, None, receive), send)

    async def _nul(self, scope: Scope, send: Send) -> None:
        response = JSONResponse({"detail": "caractere NUL não é aceito"}, status_code=422)
        await response(scope, never_receive, send)

    async def _too_large(self, scope: Scope, send: Send) -> None:
        response = JSONResponse(
            {"detail": f"corpo da requisição maior que {self.max_bytes // 1024} KiB"}, status_code=413
        )
        await response(scope, never_receive, send)


# A NUL byte raw, percent-encoded, or as a JSON escape (\u0000 after an even run of
# backslashes: "\\u0000" is the text \u0000, not a NUL). PostgreSQL refuses NUL in text
# (a 500) and the other databases would store a value no other program reads back whole.
_NUL_BODY = re.compile(rb"\x00|(?<!\\)(?:\\\\)*\\u0000", re.IGNORECASE)
_NUL_URLENCODED = re.compile(rb"\x00|%00", re.IGNORECASE)


def _has_nul(data: bytes, *, urlencoded: bool = False) -> bool:
    return (_NUL_URLENCODED if urlencoded else _NUL_BODY).search(data) is not None


def _replay(chunks: list[bytes], pending: Message | None, receive: Receive) -> Receive:
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            if pending is not None:
                return pending
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        return await receive()

    return replayed


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail
        if exc.status_code in _GENERIC and detail in ("Not Found", "Method Not Allowed"):
            detail = _GENERIC[exc.status_code]
        return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": validation_detail(exc.errors())}, status_code=422)

    @app.exception_handler(ServiceError)
    async def service_error(_request: Request, exc: ServiceError) -> JSONResponse:
        return JSONResponse({"detail": exc.detail()}, status_code=exc.status_code)

    @app.exception_handler(ConfigError)
    async def config_error(_request: Request, exc: ConfigError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(OverflowError)
    async def overflow(_request: Request, _exc: OverflowError) -> JSONResponse:
        # a number or date past what Python or the driver can hold (2^63, year 10000)
        return JSONResponse({"detail": "valor fora do intervalo aceito"}, status_code=422)

    @app.exception_handler(StatementError)
    async def statement_error(request: Request, exc: StatementError) -> JSONResponse:
        if isinstance(exc.orig, OverflowError):  # a bound value the driver cannot convert
            return await overflow(request, exc.orig)
        if isinstance(exc, DBAPIError):
            return await database_error(request, exc)
        return await unexpected(request, exc)

    @app.exception_handler(DBAPIError)
    async def database_error(request: Request, exc: DBAPIError) -> JSONResponse:
        if is_out_of_range(exc):  # the database refused a value past its column's range
            return JSONResponse({"detail": "valor fora do intervalo aceito"}, status_code=422)
        if is_busy(exc):  # another writer holds the database: a moment later it will not
            log.warning("database busy on %s %s", request.method, request.url.path)
            return JSONResponse(
                {"detail": "banco de dados ocupado; tente novamente em instantes"},
                status_code=503,
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
        return await unexpected(request, exc)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error(
            "unexpected error on %s %s: %s",
            request.method,
            request.url.path,
            type(exc).__name__,
            exc_info=exc,
        )
        return JSONResponse({"detail": "erro interno; veja o log do servidor"}, status_code=500)


def install_load_handlers(app: FastAPI) -> None:
    """Backstops of issue #20: a pool timeout is a 503 (never a 500), and a decimal past what
    the context holds a 422 (the models refuse it first; this covers any other path)."""

    @app.exception_handler(PoolTimeout)
    async def pool_exhausted(request: Request, _exc: PoolTimeout) -> JSONResponse:
        # only with a pool set smaller than the API's concurrency plus the worker's threads
        log.warning("database pool exhausted on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": BUSY_DETAIL}, status_code=503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})

    @app.exception_handler(OperationalError)
    async def database_unavailable(request: Request, exc: OperationalError) -> JSONResponse:
        # The database's own state, not the input: too many clients, a lost connection, a
        # server restarting, a lock wait. A moment later it may work: 503, never 500.
        if is_out_of_range(exc):
            return JSONResponse({"detail": "valor fora do intervalo aceito"}, status_code=422)
        log.warning("database unavailable on %s %s: %s", request.method, request.url.path, type(exc.orig).__name__)
        detail = "banco de dados ocupado" if is_busy(exc) else "banco de dados indisponível no momento"
        return JSONResponse(
            {"detail": f"{detail}; tente novamente em instantes"},
            status_code=503,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )

    @app.exception_handler(InvalidOperation)
    async def decimal_overflow(_request: Request, _exc: InvalidOperation) -> JSONResponse:
        return JSONResponse({"detail": "valor fora do intervalo aceito"}, status_code=422)


def create_app() -> FastAPI:
    app = FastAPI(
        title="crmsync",
        version="0.1.0",
        description="Sincronização bidirecional entre o ERP local e CRMs externos (GestãoClick, SuiteCRM).",
    )
    install_error_handlers(app)
    install_load_handlers(app)
    settings = get_settings()
    # Inside the body limit: a slot is taken once the body has arrived, not while a slow
    # client uploads it.
    app.add_middleware(ConcurrencyLimit, limit=settings.api_concurrency, wait_seconds=settings.api_queue_wait_seconds)
    app.add_middleware(BodySizeLimit, max_bytes=MAX_BODY_BYTES)

    @app.get("/health", tags=["status"])
    def health() -> JSONResponse:
        """Liveness: the process answers and the database is reachable and takes writes
        (503 if not: a database locked by another writer or read-only is not "ok")."""
        try:
            problem = write_problem(get_engine())
        except Exception as exc:
            log.warning("health: database unreachable: %s", type(exc).__name__)
            return JSONResponse({"status": "erro", "database": "indisponível"}, status_code=503)
        if problem is not None:
            log.warning("health: database cannot take writes: %s", problem)
            return JSONResponse(
                {"status": "erro", "database": "sem escrita"},
                status_code=503,
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
        return JSONResponse({"status": "ok", "database": "ok"})

    for name in ROUTER_MODULES:
        app.include_router(importlib.import_module(name).router)
    if not settings.metrics_port:  # else only on its own port (`create_metrics_app`)
        app.include_router(metrics_router)

    # After each committed local write, queue its push in the background: the spec's
    # automatic trigger (2.1), which never blocks or fails the user's request.
    install_listeners()
    return app


def create_metrics_app() -> FastAPI:
    """The app of `crmsync serve --metrics-port`: `GET /metrics` (with its token, when set)
    and nothing else, not even the documentation pages."""
    app = FastAPI(title="crmsync métricas", docs_url=None, redoc_url=None, openapi_url=None)
    install_error_handlers(app)
    app.include_router(metrics_router)
    return app
