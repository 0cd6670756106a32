"""FastAPI application of the SuiteCRM sandbox (API V8, JSON:API).

Routes and bodies follow SuiteCRM's own description (``Api/docs/swagger/swagger.json``) and
code (``Api/V8``): ``POST /Api/access_token``; ``GET /Api/V8/module/{Module}`` and
``/{Module}/{id}``; ``POST`` and ``PATCH /Api/V8/module`` with a ``data`` document;
``DELETE /Api/V8/module/{Module}/{id}``. Everything about *traffic* (bearer tokens, a pace a
proxy enforces, fault injection, stats) lives in :class:`SuiteCrmMiddleware`, a pure ASGI
middleware like the GestãoClick sandbox's, because a dropped connection needs control below
FastAPI's response objects. Stats and the request log are the GestãoClick sandbox's
:class:`~crmsync.sandbox.traffic.Traffic`.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import random
import re
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from crmsync.sandbox.asgi import ASGIApp, FaultMiddleware, Receive, Scope, Send, add_clock_route, sandbox_app
from crmsync.sandbox.formats import SandboxClock
from crmsync.sandbox.suitecrm.auth import TokenIssuer
from crmsync.sandbox.suitecrm.config import SUITE_FAULT_KINDS, SuiteCrmSandboxConfig
from crmsync.sandbox.suitecrm.errors import JSON_API, OAuthError, SuiteError
from crmsync.sandbox.suitecrm.legacy import LEGACY_PATH, LegacyRest
from crmsync.sandbox.suitecrm.modules import ModuleSpec
from crmsync.sandbox.suitecrm.query import ParsedQuery, parse_fields, parse_listing
from crmsync.sandbox.suitecrm.store import SuiteCrmStore, api_stamp
from crmsync.sandbox.traffic import Traffic

API_PREFIX = "/Api/V8"
TOKEN_PATH = "/Api/access_token"
_ID_PATTERN = re.compile(r"^(\d+|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$", re.IGNORECASE)
_HTML = {
    500: b"<html><head><title>500 Internal Server Error</title></head><body>Internal Server Error</body></html>",
    429: b"<html><head><title>429 Too Many Requests</title></head><body>Too Many Requests</body></html>",
    503: b"<html><head><title>503 Service Unavailable</title></head><body>Service Unavailable</body></html>",
}


@dataclass
class QueuedFault:
    """A fault forced on the next matching request(s), for deterministic tests."""

    kind: str
    times: int
    method: str | None = None
    path_prefix: str | None = None


@dataclass
class SuiteCrmState:
    """Everything one SuiteCRM sandbox owns; reachable as ``app.state.sandbox``."""

    config: SuiteCrmSandboxConfig
    clock: SandboxClock
    store: SuiteCrmStore
    traffic: Traffic
    tokens: TokenIssuer
    legacy: LegacyRest
    fault_rng: random.Random
    fault_lock: threading.Lock = field(default_factory=threading.Lock)
    queued_faults: list[QueuedFault] = field(default_factory=list)

    def queue_fault(self, kind: str, times: int = 1, method: str | None = None, path_prefix: str | None = None) -> None:
        """Force ``kind`` on the next ``times`` API requests matching ``method``/``path_prefix``.

        ``lost_answer`` waits for the next create (``POST /Api/V8/module``) whatever the filter.
        """
        if kind not in SUITE_FAULT_KINDS:
            raise ValueError(f"fault kind must be one of {', '.join(SUITE_FAULT_KINDS)}")
        if times < 1:
            raise ValueError("times must be >= 1")
        with self.fault_lock:
            self.queued_faults.append(QueuedFault(kind, times, method.upper() if method else None, path_prefix))

    def take_queued_fault(self, method: str, path: str, is_create: bool) -> str | None:
        with self.fault_lock:
            for queued in self.queued_faults:
                if queued.kind == "lost_answer" and not is_create:
                    continue
                if queued.method and queued.method != method:
                    continue
                if queued.path_prefix and not path.startswith(queued.path_prefix):
                    continue
                queued.times -= 1
                if queued.times == 0:
                    self.queued_faults.remove(queued)
                return queued.kind
        return None

    def set_clock_offset(self, seconds: float) -> None:
        """Move the sandbox clock (stamps and token expiry) without waiting."""
        self.clock.offset_seconds = float(seconds)
        self.config.clock_offset_seconds = float(seconds)

    def set_faults(self, rate: float, kinds: tuple[str, ...] | None = None, slow_seconds: float | None = None) -> None:
        """Change fault injection of a running sandbox (validated like the config)."""
        trial = dataclasses.replace(
            self.config,
            fault_rate=rate,
            fault_kinds=tuple(kinds) if kinds is not None else self.config.fault_kinds,
            slow_seconds=self.config.slow_seconds if slow_seconds is None else slow_seconds,
        )
        trial.validate()
        with self.fault_lock:
            self.config.fault_rate = trial.fault_rate
            self.config.fault_kinds = trial.fault_kinds
            self.config.slow_seconds = trial.slow_seconds
            self.traffic.config.fault_rate = trial.fault_rate

    def stats(self) -> dict[str, Any]:
        out = self.traffic.snapshot()
        out["sandbox_time_utc"] = self.clock.now_utc().isoformat()  # SuiteCRM keeps UTC; sandbox_time is São Paulo
        out["tokens"] = self.tokens.snapshot()
        out["fault_kinds"] = list(self.config.fault_kinds)
        out["records"] = {m: self.store.count(m) for m in self.store.modules()}
        out["deleted"] = {
            m: self.store.count(m, include_deleted=True) - out["records"][m] for m in self.store.modules()
        }
        return out


def build_state(config: SuiteCrmSandboxConfig) -> SuiteCrmState:
    config.validate()
    clock = SandboxClock(config.clock_offset_seconds)
    store = SuiteCrmStore(
        config.db_path,
        clock,
        config.custom_fields,
        stamp_seconds=config.stamp_seconds,
        unstable_ties=config.unstable_ties,
    )
    store.ignore_on_update = frozenset(config.ignore_on_update)
    traffic = Traffic(config.traffic_config(), clock)
    state = SuiteCrmState(
        config,
        clock,
        store,
        traffic,
        TokenIssuer(config, clock),
        LegacyRest(config, clock, store),
        random.Random(config.seed),
    )
    if config.seed_records:
        # Imported here: Faker takes a while to import and most tests start an empty sandbox.
        from crmsync.sandbox.suitecrm.seed import seed_store

        seed_store(store, config.seed_records, config.seed)
    return state


# ---------------------------------------------------------------------------- bodies


def jsonapi(body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, media_type=JSON_API, headers=headers)


def suite_error(exc: SuiteError) -> JSONResponse:
    """SuiteCRM's 400: failures of the services (a bean not found, already there, not related)
    come as JSON:API; the parameter validation before them (unknown filter field, attribute,
    operator, module, page size) answers plain ``application/json``, as the real 7.14.6 does."""
    detail = exc.detail
    service = (
        ("module with id" in detail and detail.endswith("is not found"))
        or "is already exist" in detail
        or "is not related to" in detail
    )
    return JSONResponse(exc.body(), status_code=exc.status, media_type=JSON_API if service else "application/json")


def _json_bytes(body: dict[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False).encode()


def resource(spec: ModuleSpec, record: dict[str, Any], fields: list[str] | None = None) -> dict[str, Any]:
    """A bean as SuiteCRM answers it: object name as ``type``, strings, relationship links."""
    attributes: dict[str, Any] | list[Any] = {k: v for k, v in record.items() if k != "id"}
    if fields is not None:
        # PHP's empty array: a record listed with fields[X]=id carries "attributes": [].
        attributes = {k: v for k, v in record.items() if k != "id" and k in fields} or []
    path = f"V8/module/{spec.name}/{record['id']}"
    return {
        "type": spec.object_name,
        "id": record["id"],
        "attributes": attributes,
        "relationships": {rel: {"links": {"related": f"{path}/relationships/{rel}"}} for rel in spec.relationships},
    }


def _page_link(path: str, items: list[tuple[str, str]], number: int) -> str:
    """SuiteCRM's PaginationObjectHelper: the path below ``/Api`` (Slim's base path), the query
    with ``page[number]`` set inside the ``page`` group, URL-decoded."""
    relative = path.removeprefix("/Api/")
    pairs = list(items)
    if any(k == "page[number]" for k, _ in pairs):
        pairs = [(k, str(number) if k == "page[number]" else v) for k, v in pairs]
    else:
        at = next((i + 1 for i, (k, _) in enumerate(pairs) if k == "page[size]"), len(pairs))
        pairs.insert(at, ("page[number]", str(number)))
    query = unquote(urlencode(pairs))
    return f"{relative}?{query}"


async def read_document(request: Request) -> dict[str, Any]:
    """The ``data`` object of a JSON:API request body, or SuiteCRM's 400."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in (JSON_API, "application/json") and not content_type.endswith("+json"):
        shown = content_type or "none"
        raise SuiteError(f"Content-Type {shown} is not supported: send {JSON_API}")
    raw = await request.body()
    try:
        body = json.loads(raw) if raw.strip() else None
    except (ValueError, UnicodeDecodeError) as exc:
        raise SuiteError("Syntax error, malformed JSON") from exc
    if not isinstance(body, dict) or "data" not in body:
        raise SuiteError('The required option "data" is missing.')
    data = body["data"]
    if not isinstance(data, dict):
        raise SuiteError('The option "data" with value is expected to be of type "array".')
    if not isinstance(data.get("type"), str) or not data["type"]:
        raise SuiteError('The required option "type" is missing.')
    attributes = data.get("attributes", {})
    if attributes is None:
        attributes = {}
    if not isinstance(attributes, dict):
        raise SuiteError('The option "attributes" with value is expected to be of type "array".')
    data["attributes"] = attributes
    if data.get("id") is not None and (not isinstance(data["id"], str) or not _ID_PATTERN.match(data["id"])):
        raise SuiteError(f'The option "id" with value "{data["id"]}" is invalid.')
    return data


# ---------------------------------------------------------------------------- middleware


class SuiteCrmMiddleware(FaultMiddleware):
    """Bearer token -> pace (429) -> fault injection -> app, with stats and the request log."""

    html_500 = _HTML[500]
    drop_content_type = JSON_API.encode()
    drop_fragment = b'{"data":{"type":"'

    def __init__(self, app: ASGIApp, state: SuiteCrmState) -> None:
        super().__init__(app, state.traffic, state.fault_rng, state.fault_lock, lambda: state.config)
        self.state = state

    @staticmethod
    def _authorization(scope: Scope) -> str:
        for key, value in scope.get("headers", []):
            if key.lower() == b"authorization":
                return str(value.decode("latin-1"))
        return ""

    async def admit(self, scope: Scope, receive: Receive, send: Send) -> None:
        traffic = self.state.traffic
        method, path = scope["method"], scope["path"]
        client = self.state.config.client_id
        is_api = path == API_PREFIX or path.startswith(API_PREFIX + "/")
        if is_api:
            try:
                self.state.tokens.check(self._authorization(scope))
            except OAuthError as exc:
                traffic.record(method, path, exc.status, None, "401")
                await self.send_simple(send, exc.status, _json_bytes(exc.body()), "application/json")
                return
        decision = traffic.admit(client)
        if not decision.allowed:
            traffic.record(method, path, 429, client, "429")
            error = SuiteError("Too many requests: slow down", 429, "Too Many Requests")
            await self.send_simple(
                send, 429, _json_bytes(error.body()), JSON_API, [(b"retry-after", str(decision.retry_after).encode())]
            )
            return
        is_create = method == "POST" and path.rstrip("/") == f"{API_PREFIX}/module"
        fault = None
        if is_api:
            queued = self.state.take_queued_fault(method, path, is_create)
            fault = queued or self.pick_fault(is_create, self.state.config.fault_kinds)
        if fault in ("http_429", "http_503"):
            status = 429 if fault == "http_429" else 503
            traffic.record(method, path, status, client, "faulted", fault)
            retry = str(self.state.config.retry_after_seconds).encode()
            await self.send_simple(send, status, _HTML[status], "text/html; charset=utf-8", [(b"retry-after", retry)])
            return
        await self.serve(scope, receive, send, client, fault)


# ---------------------------------------------------------------------------- app factory


def _add_error_handlers(app: FastAPI) -> None:
    """Every failure answers a SuiteCRM shape: ``errors`` for the API, league's body for OAuth."""

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        titles = {404: "Not Found", 405: "Method Not Allowed"}
        detail = f"{request.method} {request.url.path}: {titles.get(exc.status_code, exc.detail)}"
        return suite_error(SuiteError(detail, exc.status_code, titles.get(exc.status_code)))

    @app.exception_handler(SuiteError)
    async def handled(request: Request, exc: SuiteError) -> Response:
        return suite_error(exc)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        # A sandbox bug still answers SuiteCRM's error shape (500), never a stack trace.
        return suite_error(SuiteError(f"{request.method} {request.url.path}: internal error", 500))

    @app.exception_handler(OAuthError)
    async def oauth_failed(request: Request, exc: OAuthError) -> Response:
        return JSONResponse(exc.body(), status_code=exc.status)


async def _token_request(request: Request) -> tuple[dict[str, Any], tuple[str, str] | None]:
    """The token request's parameters (JSON or form body) and HTTP Basic client credentials, if any."""
    raw = await request.body()
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type.endswith("json"):
        try:
            parsed = json.loads(raw) if raw.strip() else {}
        except (ValueError, UnicodeDecodeError):
            parsed = None
        if not isinstance(parsed, dict):
            raise OAuthError("invalid_request", "The request body is not valid JSON.", 400)
        form: dict[str, Any] = parsed
    else:
        form = dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
    auth = request.headers.get("authorization", "")
    if not auth.lower().startswith("basic "):
        return form, None
    try:
        user, _, password = base64.b64decode(auth[6:].strip()).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return form, None
    return form, (user, password)


def _add_auth_routes(app: FastAPI, state: SuiteCrmState) -> None:
    """``/Api/access_token`` (V8) and ``service/v4_1/rest.php`` (legacy login + get_entry_list)."""

    async def access_token(request: Request) -> Response:
        form, basic = await _token_request(request)
        answer = state.tokens.grant(form, basic)
        return JSONResponse(answer, headers={"cache-control": "no-store", "pragma": "no-cache"})

    async def legacy_rest(request: Request) -> Response:
        """Form (POST) or query-string (GET) fields, JSON answer."""
        fields = dict(request.query_params)
        if request.method == "POST":
            raw = await request.body()
            fields.update(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
        answer = await run_in_threadpool(state.legacy.call, fields.get("method", ""), fields.get("rest_data", ""))
        return JSONResponse(answer)

    app.add_api_route(TOKEN_PATH, access_token, methods=["POST"], include_in_schema=False)
    app.add_api_route(LEGACY_PATH, legacy_rest, methods=["GET", "POST"], include_in_schema=False)


def _list_body(
    data: list[dict[str, Any]], total: int, path: str, items: list[tuple[str, str]], parsed: ParsedQuery
) -> dict[str, Any]:
    """A listing document as ModuleService::getRecords + DocumentResponse build it."""
    if not data:
        return {"meta": {"message": "Request was successful, but there is no result"}, "data": []}
    if parsed.page_size is None:
        return {"data": data}
    total_pages = -(-total // parsed.page_size)
    number = parsed.page_number
    return {
        "meta": {"total-pages": total_pages, "records-on-this-page": len(data)},
        "data": data,
        "links": {
            "first": _page_link(path, items, 1) if number > 1 else None,
            "prev": _page_link(path, items, number - 1) if number > 1 else None,
            "next": _page_link(path, items, number + 1) if number + 1 <= total_pages else None,
            "last": _page_link(path, items, total_pages) if number + 1 <= total_pages else None,
        },
    }


def _add_module_routes(app: FastAPI, state: SuiteCrmState) -> None:
    """The V8 module routes: list, get, create, PATCH, delete."""
    store = state.store

    async def list_records(request: Request, module: str) -> Response:
        spec = store.spec(module)
        items = list(request.query_params.multi_items())
        parsed = parse_listing(spec, items, store.attributes_of(spec))
        page = await run_in_threadpool(store.list_page, spec.name, parsed.listing)
        data = [resource(spec, r, parsed.fields) for r in page.rows]
        return jsonapi(_list_body(data, page.total, request.url.path, items, parsed))

    async def get_record(request: Request, module: str, id: str) -> Response:
        spec = store.spec(module)
        fields = parse_fields(spec, request.query_params.multi_items(), store.attributes_of(spec))
        record = await run_in_threadpool(store.get, spec.name, id)
        return jsonapi({"data": resource(spec, record, fields)})

    async def create_record(request: Request) -> Response:
        data = await read_document(request)
        spec = store.spec(data["type"])
        record = await run_in_threadpool(lambda: store.create(spec.name, data["attributes"], data.get("id")))
        return jsonapi({"data": resource(spec, record)}, 201)

    async def update_record(request: Request) -> Response:
        data = await read_document(request)
        spec = store.spec(data["type"])
        if not data.get("id"):
            raise SuiteError('The required option "id" is missing.')
        record = await run_in_threadpool(lambda: store.update(spec.name, data["id"], data["attributes"], api=True))
        # 201, not the 200 of swagger.json: ModuleController::updateModuleRecord answers 201.
        return jsonapi({"data": resource(spec, record)}, 201)

    async def delete_record(request: Request, module: str, id: str) -> Response:
        spec = store.spec(module)
        await run_in_threadpool(store.delete, spec.name, id)
        return jsonapi({"meta": {"message": f"Record with id {id} is deleted"}, "data": []})

    base = f"{API_PREFIX}/module"
    _add_email_relationship_routes(app, state, base)
    app.add_api_route(base, create_record, methods=["POST"], include_in_schema=False)
    app.add_api_route(base, update_record, methods=["PATCH"], include_in_schema=False)
    app.add_api_route(base + "/{module}", list_records, methods=["GET"], include_in_schema=False)
    app.add_api_route(base + "/{module}/{id}", get_record, methods=["GET"], include_in_schema=False)
    app.add_api_route(base + "/{module}/{id}", delete_record, methods=["DELETE"], include_in_schema=False)


EMAIL_LINK = "email_addresses"


def _email_address_resource(row: dict[str, Any]) -> dict[str, Any]:
    stamp = api_stamp(row["date_created"])
    return {
        "type": "EmailAddress",
        "id": row["id"],
        "attributes": {
            "email_address": row["email_address"],
            "email_address_caps": row["email_address_caps"],
            "invalid_email": "0",
            "opt_out": "0",
            "confirm_opt_in": "not-opt-in",
            "date_created": stamp,
            "date_modified": stamp,
            "deleted": "0",
        },
        "links": {"self": f"V8/module/EmailAddress/{row['id']}"},
    }


def _add_email_relationship_routes(app: FastAPI, state: SuiteCrmState, base: str) -> None:
    """``/{Module}/{id}/relationships/email_addresses``: list, link, unlink, as
    ``RelationshipService`` answers them (the route that really changes a stored e-mail)."""
    store = state.store

    def link_name(spec: ModuleSpec, link: str) -> None:
        if link != EMAIL_LINK or "email1" not in store.attributes_of(spec):
            raise SuiteError(f"Cannot load relationship {link} for module {spec.object_name}")

    async def list_links(module: str, id: str, link: str) -> Response:
        spec = store.spec(module)
        link_name(spec, link)
        rows = await run_in_threadpool(store.email_links, spec.name, id)
        if not rows:
            message = f"There is no relationship set in {spec.object_name} module with {link} link field"
            return jsonapi({"meta": {"message": message}, "data": []})
        meta = {"total-records": len(rows), "total-pages": 1, "records-on-this-page": len(rows)}
        return jsonapi({"meta": meta, "data": [_email_address_resource(r) for r in rows]})

    async def add_link(request: Request, module: str, id: str, link: str) -> Response:
        spec = store.spec(module)
        link_name(spec, link)
        data = await read_document(request)
        if data["type"] not in ("EmailAddresses", "EmailAddress") or not data.get("id"):
            raise SuiteError(f"Cannot load relationship {link} for module {spec.object_name}")
        await run_in_threadpool(lambda: store.change_email_link(spec.name, id, data["id"], add=True))
        message = (
            f"Email Address record with id {data['id']} has been related to {spec.name} record with id {id} "
            f"using link {link}"
        )
        return jsonapi({"meta": {"message": message, "relationshipLink": link}, "data": []}, 201)

    async def drop_link(module: str, id: str, link: str, related: str) -> Response:
        spec = store.spec(module)
        link_name(spec, link)
        await run_in_threadpool(lambda: store.change_email_link(spec.name, id, related, add=False))
        message = (
            f"Relationship has been deleted between {spec.object_name} with id {id} and EmailAddress with id {related}"
        )
        return jsonapi({"meta": {"message": message}, "data": []})

    path = base + "/{module}/{id}/relationships/{link}"
    app.add_api_route(path, list_links, methods=["GET"], include_in_schema=False)
    app.add_api_route(path, add_link, methods=["POST"], include_in_schema=False)
    app.add_api_route(path + "/{related}", drop_link, methods=["DELETE"], include_in_schema=False)


async def _json_object(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"{}")
    except (ValueError, UnicodeDecodeError) as exc:
        raise SuiteError("Syntax error, malformed JSON") from exc
    if not isinstance(body, dict):
        raise SuiteError("The body must be a JSON object")
    return body


def _apply_fault_settings(state: SuiteCrmState, body: dict[str, Any]) -> None:
    try:
        if "fault_rate" in body or "fault_kinds" in body:
            rate = float(body.get("fault_rate", state.config.fault_rate))
            kinds = tuple(body.get("fault_kinds") or state.config.fault_kinds)
            state.set_faults(rate, kinds)
        queued = body.get("queue")
        if queued is not None:
            state.queue_fault(
                str(queued["kind"]), int(queued.get("times", 1)), queued.get("method"), queued.get("path_prefix")
            )
    except (ValueError, TypeError, AttributeError, KeyError) as exc:
        raise SuiteError(f"Invalid fault settings: {exc}") from exc


def _add_control_routes(app: FastAPI, state: SuiteCrmState) -> None:
    """``/_sandbox/*``: no token, no pace, no faults."""

    @app.get("/_sandbox/stats")
    async def stats() -> dict[str, Any]:
        return await run_in_threadpool(state.stats)

    @app.get("/_sandbox/requests")
    async def requests_log() -> list[dict[str, Any]]:
        return state.traffic.requests()

    @app.post("/_sandbox/reset-stats")
    async def reset_stats() -> dict[str, Any]:
        state.traffic.reset(quota=True)
        return {"ok": True}

    @app.post("/_sandbox/expire-tokens")
    async def expire_tokens() -> dict[str, Any]:
        return {"expired": state.tokens.expire_all()}

    add_clock_route(
        app,
        _json_object,
        lambda: SuiteError("offset_seconds must be a number"),
        state.set_clock_offset,
        lambda: state.clock.now_utc().isoformat(),
    )

    @app.post("/_sandbox/faults")
    async def set_faults(request: Request) -> dict[str, Any]:
        """``{"fault_rate": 0.1, "fault_kinds": [...]}`` and/or ``{"queue": {"kind": "http_429", "times": 1}}``."""
        _apply_fault_settings(state, await _json_object(request))
        return {
            "fault_rate": state.config.fault_rate,
            "fault_kinds": list(state.config.fault_kinds),
            "queued": [dataclasses.asdict(q) for q in state.queued_faults],
        }


def create_app(config: SuiteCrmSandboxConfig | None = None, *, state: SuiteCrmState | None = None) -> FastAPI:
    """Build the sandbox app; ``state`` lets the harness share an already-built store."""
    state = state or build_state(config or SuiteCrmSandboxConfig())
    app = sandbox_app("SuiteCRM sandbox (crmsync)")
    app.state.sandbox = state
    _add_error_handlers(app)
    _add_auth_routes(app, state)
    _add_module_routes(app, state)
    _add_control_routes(app, state)
    app.add_middleware(SuiteCrmMiddleware, state=state)
    return app
