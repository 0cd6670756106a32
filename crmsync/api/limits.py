"""Request admission and connection hygiene: why the API answers a burst with 200s and quick
503s instead of 500s and hangs (issue #20).

Two rules, together:

1. **Admission** (:class:`ConcurrencyLimit`): at most ``CRMSYNC_API_CONCURRENCY`` requests are
   worked on at once in a process. One past that waits (holding nothing: no thread, no
   connection) up to ``CRMSYNC_API_QUEUE_WAIT_SECONDS`` for a turn, then answers 503 with
   ``Retry-After`` and a JSON ``detail``. The thread pool is raised to the same size, and the
   database pool is sized from it (``crmsync.db.session``), so an admitted request never
   waits for a thread or a connection behind requests that cannot finish.
2. **No connection held while waiting** (:class:`ReleasingRoute`): FastAPI runs a sync
   route's dependencies, the route and the response's validation as separate hops through the
   thread pool. A session left open across those hops keeps its pooled connection while the
   request waits for the next thread; with enough requests at once every thread ends up
   waiting on the pool while every connection waits on a thread (the stall of #20). So the
   store-key look-up uses its own short session (``crmsync.api.deps``) and every route's
   ``Session`` argument is closed in the route's own thread as soon as it returns.

Fewer hops also means less CPU: each trip through the thread pool costs a queue hand-off and
a wake-up of the event loop, about a third of a busy `serve` process's CPU when a request
made five of them (the key look-up, the session's opening and closing, the route, the
answer's validation). So the dependencies are async (no hop) and the answer is validated and
serialized in the route's own thread: one hop per request.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Callable
from typing import Any

import anyio.to_thread
from fastapi.datastructures import DefaultPlaceholder
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import ResponseValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.utils import is_body_allowed_for_status_code
from sqlalchemy.orm import Session
from starlette.responses import Response

from crmsync.api.deps import get_session
from crmsync.asgi import ASGIApp, Receive, Scope, Send, never_receive
from crmsync.db.health import RETRY_AFTER_SECONDS

BUSY_DETAIL = "servidor ocupado; tente novamente em instantes"


async def answer_busy(scope: Scope, send: Send) -> None:
    response = JSONResponse({"detail": BUSY_DETAIL}, status_code=503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
    await response(scope, never_receive, send)


class ConcurrencyLimit:
    """ASGI middleware: admit at most `limit` HTTP requests at once; the others wait up to
    `wait_seconds` for a turn, then get 503 with Retry-After (see the module docstring)."""

    def __init__(self, app: ASGIApp, limit: int, wait_seconds: float) -> None:
        self.app = app
        self.limit = limit
        self.wait_seconds = wait_seconds
        self._slots: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if self._slots is None or self._loop is not loop:
            # once per event loop: the slots, and enough threads that no admitted request
            # waits for one (a route's hops are sequential: one thread per request at a time)
            self._slots, self._loop = asyncio.Semaphore(self.limit), loop
            limiter = anyio.to_thread.current_default_thread_limiter()
            limiter.total_tokens = max(limiter.total_tokens, self.limit + 8)
        return self._slots

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        slots = self._semaphore()
        try:
            await asyncio.wait_for(slots.acquire(), timeout=self.wait_seconds)
        except TimeoutError:
            await answer_busy(scope, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            slots.release()


def _answers_itself(route: APIRoute) -> bool:
    """Whether the route's answer can be built in its own thread exactly as FastAPI would:
    a response model, the default response class, a status that carries a body, and no
    `Response` parameter (anywhere in its dependencies) that sets a status or headers."""

    def sets_response(dependant: Dependant) -> bool:
        return bool(dependant.response_param_name) or any(sets_response(d) for d in dependant.dependencies)

    return (
        route.response_field is not None
        and isinstance(route.response_class, DefaultPlaceholder)
        and is_body_allowed_for_status_code(route.status_code)
        and not sets_response(route.dependant)
    )


# the route's `response_model_*` options, passed as FastAPI passes them
_MODEL_OPTIONS = ("include", "exclude", "by_alias", "exclude_unset", "exclude_defaults", "exclude_none")


def _answer(route: APIRoute, result: Any) -> Any:
    """`result` validated and serialized by the route's response model, as FastAPI's own
    `serialize_response` does (same field, same options), into the JSON response it would
    send; anything else unchanged."""
    if isinstance(result, Response):
        return result
    field = route.response_field
    assert field is not None
    value, errors = field.validate(result, {}, loc=("response",))
    if errors:
        raise ResponseValidationError(errors=errors, body=result)
    options = {name: getattr(route, f"response_model_{name}") for name in _MODEL_OPTIONS}
    content = field.serialize_json(value, **options)
    return Response(content=content, status_code=route.status_code or 200, media_type="application/json")


def _releasing(endpoint: Callable[..., Any], routes: list[APIRoute]) -> Callable[..., Any]:
    """`endpoint`, closing every `Session` it was given in its own thread when it returns
    (the closing also rolls back what it did not commit), and answering through `_answer`
    when its route allows (`routes` then holds the route, once it is built). Results are plain
    data or rendered responses, so nothing needs the session afterwards; the dependency's
    own close later is a no-op."""

    @functools.wraps(endpoint)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            result = endpoint(*args, **kwargs)
        finally:
            for value in kwargs.values():
                if isinstance(value, Session):
                    value.close()
        return _answer(routes[0], result) if routes else result

    # FastAPI reads the parameters from the signature; resolve the annotations against the
    # endpoint's module (they are strings under `from __future__ import annotations`).
    wrapper.__signature__ = inspect.signature(endpoint, eval_str=True)  # type: ignore[attr-defined]
    return wrapper


def _takes_session(dependant: Dependant) -> bool:
    return any(d.call is get_session or _takes_session(d) for d in dependant.dependencies)


def _session_misplaced(dependant: Dependant, is_async: bool) -> bool:
    """Whether a request's session would go unclosed: taken by an async endpoint, or by a
    dependency rather than the endpoint itself (only the endpoint's arguments are closed)."""
    direct = any(d.call is get_session for d in dependant.dependencies)
    return (direct and is_async) or any(_takes_session(d) for d in dependant.dependencies)


class ReleasingRoute(APIRoute):
    """The route class of every API router: sync endpoints give their connections back, and
    validate and serialize their answers, in their own thread (see the module docstring).

    The request's session (`crmsync.api.deps.SessionDep`) is closed only here, as a sync
    endpoint's argument: an async endpoint or a dependency may not take one."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        routes: list[APIRoute] = []
        is_async = inspect.iscoroutinefunction(endpoint)
        if not is_async:
            endpoint = _releasing(endpoint, routes)
        super().__init__(path, endpoint, **kwargs)
        if _session_misplaced(self.dependant, is_async):
            raise TypeError(f"{path}: only a sync endpoint may take a SessionDep (its thread closes it)")
        if _answers_itself(self):
            routes.append(self)
