"""FastAPI application of the GestãoClick sandbox.

Routes mirror the real API (``/<recurso>`` and ``/api/<recurso>``, the ``code/status/data``
envelope, both ``meta`` variants). Everything that is about *traffic* rather than data (auth,
rate limit, quota, fault injection, stats) lives in :class:`SandboxMiddleware`, a pure ASGI
middleware, because faults such as a dropped connection need control below FastAPI's response
objects.
"""

from __future__ import annotations

import hmac
import json
import random
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from crmsync.sandbox import lookups
from crmsync.sandbox.asgi import ASGIApp, FaultMiddleware, Receive, Scope, Send, add_clock_route, sandbox_app
from crmsync.sandbox.config import CompanyCredentials, SandboxConfig
from crmsync.sandbox.formats import SandboxClock
from crmsync.sandbox.records import NotFound, ValidationFailed
from crmsync.sandbox.store import RESOURCES, SandboxStore
from crmsync.sandbox.traffic import FAULT_KINDS, Traffic
from crmsync.sandbox.webhooks import WebhookEmitter

RATE_LIMIT_MESSAGE = "O limite de requisicoes foi atingido"
NOT_FOUND_MESSAGE = "Registro não encontrado"
META_VARIANT_B = {"produtos"}
HTML_500 = b"<html><body>Internal Server Error</body></html>"
COMPANY_KEY = "sandbox_company"


@dataclass
class SandboxState:
    """Everything one sandbox instance owns; reachable as ``app.state.sandbox``."""

    config: SandboxConfig
    clock: SandboxClock
    store: SandboxStore  # the first company's data (the only one in a single-company sandbox)
    traffic: Traffic
    fault_rng: random.Random
    emitter: WebhookEmitter | None = None
    fault_lock: threading.Lock = field(default_factory=threading.Lock)
    stores: dict[str, SandboxStore] = field(default_factory=dict)  # company name -> its data

    def store_for(self, company: str | None) -> SandboxStore:
        """A company's data; None is the first company."""
        if company is None:
            return self.store
        try:
            return self.stores[company]
        except KeyError:
            raise NotFound(company) from None

    def set_clock_offset(self, seconds: float) -> None:
        self.store.set_clock_offset(seconds)
        self.config.clock_offset_seconds = float(seconds)

    def restart_emitter(self) -> None:
        if self.emitter is None:
            return
        old = self.emitter
        self.emitter = WebhookEmitter(
            old.url,
            old.secret,
            self.clock,
            max_attempts=old.max_attempts,
            backoff_seconds=old.backoff_seconds,
            on_result=old.on_result,
        )
        self.store.replace_listener(old, self.emitter)

    def close(self) -> None:
        if self.emitter is not None:
            self.emitter.close()
        for store in self.stores.values() or [self.store]:
            store.close()


# ---------------------------------------------------------------------------- envelopes


def envelope(data: Any, meta: dict[str, Any] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"code": 200, "status": "success"}
    if meta is not None:
        body["meta"] = meta
    body["data"] = data
    return JSONResponse(body)


def error(code: int, data: Any, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"code": code, "status": "error", "data": data}, status_code=code, headers=headers)


def _error_bytes(code: int, data: Any) -> bytes:
    return json.dumps({"code": code, "status": "error", "data": data}, ensure_ascii=False).encode()


def build_meta(recurso: str, request: Request, pagina: int, limite: int, total: int, on_page: int) -> dict[str, Any]:
    """Both documented meta variants; URLs are ``/api/<recurso>?...`` keeping the other params."""
    others = [(k, v) for k, v in request.query_params.multi_items() if k != "pagina"]

    def url(page: int) -> str:
        return f"/api/{recurso}?" + urlencode([*others, ("pagina", str(page))])

    anterior = pagina - 1 if pagina > 1 else None
    proxima = pagina + 1 if pagina * limite < total else None
    meta: dict[str, Any] = {"total_registros": total}
    if recurso in META_VARIANT_B:
        meta["total_paginas"] = (total + limite - 1) // limite
        meta["total_registros_pagina"] = on_page
    else:
        meta["total_da_pagina"] = on_page
    meta.update(
        {
            "pagina_atual": pagina,
            "limite_por_pagina": limite,
            "pagina_anterior": anterior,
            "url_anterior": url(anterior) if anterior else None,
            "proxima_pagina": proxima,
            "proxima_url": url(proxima) if proxima else None,
        }
    )
    return meta


def _int_param(request: Request, name: str, default: int) -> int:
    try:
        return int(request.query_params.get(name, default))
    except (TypeError, ValueError):
        return default


def paging(request: Request) -> tuple[int, int, str, str, dict[str, str]]:
    pagina = max(1, _int_param(request, "pagina", 1))
    limite = min(100, max(1, _int_param(request, "limite", 20)))
    ordenacao = request.query_params.get("ordenacao", "id")
    direcao = request.query_params.get("direcao", "asc")
    reserved = {"pagina", "limite", "ordenacao", "direcao"}
    filters = {k: v for k, v in request.query_params.items() if k not in reserved}
    return pagina, limite, ordenacao, direcao, filters


async def read_json(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationFailed("JSON inválido no corpo da requisição.") from exc
    if not isinstance(body, dict):
        raise ValidationFailed("O corpo da requisição deve ser um objeto JSON.")
    return body


# ---------------------------------------------------------------------------- middleware


class SandboxMiddleware(FaultMiddleware):
    """Auth -> per-company rate limit and quota -> fault injection -> app, with stats."""

    html_500 = HTML_500

    def __init__(self, app: ASGIApp, state: SandboxState) -> None:
        super().__init__(app, state.traffic, state.fault_rng, state.fault_lock, lambda: state.config)
        self.state = state
        self._by_token: list[CompanyCredentials] = state.config.company_list()

    def _company(self, scope: Scope) -> str | None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        token = headers.get("access-token", "")
        secret = headers.get("secret-access-token", "")
        for c in self._by_token:
            if hmac.compare_digest(token, c.access_token) and hmac.compare_digest(secret, c.secret_access_token):
                return c.name
        return None

    async def admit(self, scope: Scope, receive: Receive, send: Send) -> None:
        traffic = self.state.traffic
        method, path = scope["method"], scope["path"]
        company = self._company(scope)
        if company is None:
            traffic.record(method, path, 401, None, "401")
            await self.send_simple(
                send, 401, _error_bytes(401, "Token de acesso inválido ou não informado."), "application/json"
            )
            return
        scope.setdefault("state", {})[COMPANY_KEY] = company  # routes read their company's data
        decision = traffic.admit(company)
        if not decision.allowed:
            extra = []
            if self.state.config.retry_after_header:
                extra.append((b"retry-after", str(decision.retry_after).encode()))
            traffic.record(method, path, 429, company, "429")
            await self.send_simple(send, 429, _error_bytes(429, RATE_LIMIT_MESSAGE), "application/json", extra)
            return

        segments = [s for s in path.split("/") if s]
        if segments and segments[0] == "api":
            segments = segments[1:]
        is_create = method == "POST" and len(segments) == 1 and segments[0] in RESOURCES
        await self.serve(scope, receive, send, company, self.pick_fault(is_create, FAULT_KINDS))


# ---------------------------------------------------------------------------- app factory


def _company_db_path(db_path: str | None, index: int, name: str) -> str | None:
    """The first company keeps ``db_path`` itself (a single-company sandbox is unchanged);
    the others get a file beside it named after them."""
    if db_path is None or index == 0:
        return db_path
    base = Path(db_path)
    return str(base.with_name(f"{base.stem}-{name}{base.suffix}"))


def build_state(config: SandboxConfig) -> SandboxState:
    config.validate()
    clock = SandboxClock(config.clock_offset_seconds)
    stores: dict[str, SandboxStore] = {}
    for i, company in enumerate(config.company_list()):
        seed = None if config.seed is None else config.seed + i
        stores[company.name] = SandboxStore(_company_db_path(config.db_path, i, company.name), clock, seed)
        stores[company.name].ignore_on_update = frozenset(config.ignore_on_update)
        if config.seed_records:
            from crmsync.sandbox.seed import seed_store

            seed_store(stores[company.name], config.seed_records, seed)
    store = next(iter(stores.values()))
    traffic = Traffic(config, clock)
    state = SandboxState(config, clock, store, traffic, random.Random(config.seed), stores=stores)
    if config.webhook_url:
        state.emitter = WebhookEmitter(
            config.webhook_url,
            config.webhook_secret,
            clock,
            max_attempts=config.webhook_max_attempts,
            backoff_seconds=config.webhook_backoff_seconds,
            on_result=traffic.record_webhook,
        )
        store.add_listener(state.emitter)
    return state


def create_app(config: SandboxConfig | None = None, *, state: SandboxState | None = None) -> FastAPI:
    """Build the sandbox app; ``state`` lets the harness share an already-built store."""
    state = state or build_state(config or SandboxConfig())
    app = sandbox_app("GestãoClick sandbox (crmsync)")
    app.state.sandbox = state

    def company_store(request: Request) -> SandboxStore:
        """The data of the company whose tokens the request carries (set by the middleware)."""
        return state.store_for(getattr(request.state, COMPANY_KEY, None))

    def panel_store(request: Request) -> SandboxStore:
        """Panel routes pick a company with ``?empresa=name`` (default: the first)."""
        return state.store_for(request.query_params.get("empresa"))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        messages = {404: "Recurso não encontrado", 405: "Método não permitido"}
        return error(exc.status_code, messages.get(exc.status_code, str(exc.detail)))

    @app.exception_handler(ValidationFailed)
    async def validation_error(request: Request, exc: ValidationFailed) -> Response:
        return error(400, exc.errors)

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound) -> Response:
        return error(404, NOT_FOUND_MESSAGE)

    def add_resource(prefix: str, recurso: str) -> None:
        base = f"{prefix}/{recurso}"

        async def list_records(request: Request) -> Response:
            pagina, limite, ordenacao, direcao, filters = paging(request)
            page = await run_in_threadpool(
                company_store(request).list_page,
                recurso,
                filters,
                pagina=pagina,
                limite=limite,
                ordenacao=ordenacao,
                direcao=direcao,
            )
            return envelope(page.rows, build_meta(recurso, request, pagina, limite, page.total, len(page.rows)))

        async def get_record(request: Request, id: str) -> Response:
            return envelope(await run_in_threadpool(company_store(request).get, recurso, id))

        async def create_record(request: Request) -> Response:
            body = await read_json(request)
            loja_id = request.query_params.get("loja_id")
            store = company_store(request)
            return envelope(await run_in_threadpool(lambda: store.create(recurso, body, loja_id=loja_id)))

        async def update_record(request: Request, id: str) -> Response:
            body = await read_json(request)
            store = company_store(request)
            return envelope(await run_in_threadpool(lambda: store.update(recurso, id, body, require_full=True)))

        async def delete_record(request: Request, id: str) -> Response:
            return envelope(await run_in_threadpool(company_store(request).delete, recurso, id))

        name = f"{prefix.strip('/') or 'root'}_{recurso}"
        app.add_api_route(base, list_records, methods=["GET"], name=f"{name}_list", include_in_schema=False)
        app.add_api_route(base, create_record, methods=["POST"], name=f"{name}_create", include_in_schema=False)
        app.add_api_route(base + "/{id}", get_record, methods=["GET"], name=f"{name}_get", include_in_schema=False)
        app.add_api_route(base + "/{id}", update_record, methods=["PUT"], name=f"{name}_put", include_in_schema=False)
        app.add_api_route(
            base + "/{id}", delete_record, methods=["DELETE"], name=f"{name}_del", include_in_schema=False
        )

    def add_lookup(prefix: str, recurso: str) -> None:
        table = lookups.LOOKUPS[recurso]
        base = f"{prefix}/{recurso}"

        async def list_lookup(request: Request) -> Response:
            pagina, limite, _, _, filters = paging(request)
            rows = [r for r in table if "id" not in filters or r["id"] == filters["id"]]
            window = rows[(pagina - 1) * limite : pagina * limite]
            return envelope(window, build_meta(recurso, request, pagina, limite, len(rows), len(window)))

        async def get_lookup(request: Request, id: str) -> Response:
            row = lookups.find(table, id)
            if row is None:
                raise NotFound(id)
            return envelope(row)

        name = f"{prefix.strip('/') or 'root'}_{recurso}"
        app.add_api_route(base, list_lookup, methods=["GET"], name=f"{name}_list", include_in_schema=False)
        app.add_api_route(base + "/{id}", get_lookup, methods=["GET"], name=f"{name}_get", include_in_schema=False)

    # ------------------------------------------------------------------ sandbox control routes
    @app.get("/_sandbox/stats")
    async def stats() -> dict[str, Any]:
        return state.traffic.snapshot()

    @app.get("/_sandbox/requests")
    async def requests_log() -> list[dict[str, Any]]:
        return state.traffic.requests()

    @app.post("/_sandbox/reset-stats")
    async def reset_stats(request: Request) -> dict[str, Any]:
        body = await read_json(request)
        state.traffic.reset(quota=bool(body.get("quota")))
        return {"ok": True}

    add_clock_route(
        app,
        read_json,
        lambda: ValidationFailed({"offset_seconds": "Valor numérico obrigatório."}),
        state.set_clock_offset,
        state.clock.stamp,
    )

    @app.get("/_sandbox/panel/{recurso}")
    async def panel_list(request: Request, recurso: str) -> Response:
        return envelope(await run_in_threadpool(panel_store(request).list_all, recurso))

    @app.get("/_sandbox/panel/{recurso}/{id}")
    async def panel_get(request: Request, recurso: str, id: str) -> Response:
        return envelope(await run_in_threadpool(panel_store(request).get, recurso, id))

    @app.post("/_sandbox/panel/{recurso}")
    async def panel_create(request: Request, recurso: str) -> Response:
        body = await read_json(request)
        store = panel_store(request)
        return envelope(await run_in_threadpool(lambda: store.create(recurso, body, origem="painel")))

    @app.put("/_sandbox/panel/{recurso}/{id}")
    async def panel_update(request: Request, recurso: str, id: str) -> Response:
        body = await read_json(request)
        store = panel_store(request)
        return envelope(await run_in_threadpool(lambda: store.update(recurso, id, body, origem="painel")))

    @app.delete("/_sandbox/panel/{recurso}/{id}")
    async def panel_delete(request: Request, recurso: str, id: str) -> Response:
        store = panel_store(request)
        return envelope(await run_in_threadpool(lambda: store.delete(recurso, id, origem="painel")))

    for prefix in ("/api", ""):
        for recurso in RESOURCES:
            add_resource(prefix, recurso)
        for recurso in lookups.LOOKUPS:
            add_lookup(prefix, recurso)

    app.add_middleware(SandboxMiddleware, state=state)
    return app
