"""What both sandboxes' traffic middlewares and apps share (GestãoClick's ``app``, SuiteCRM's
``suitecrm.app``).

The middleware is pure ASGI, below FastAPI's response objects, because a dropped connection
(a body promised and never finished) cannot be made from a ``Response``. Each sandbox says who
is asking and what refuses them (tokens, pace, quota); the draw of a fault and what a fault
does to the answer (slow, a 500 page, a dropped connection, a create whose answer is lost) are
one behaviour and live here once, so the two fakes fail the same way.
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol

from fastapi import FastAPI, Request

from crmsync.asgi import ASGIApp, Message, Receive, Scope, Send
from crmsync.sandbox.traffic import Traffic

__all__ = ["ASGIApp", "FaultMiddleware", "Message", "Receive", "Scope", "Send", "add_clock_route", "sandbox_app"]


class FaultSettings(Protocol):
    """The part of a sandbox's config the fault draw reads (changed live by the control routes)."""

    @property
    def fault_rate(self) -> float: ...

    @property
    def slow_seconds(self) -> float: ...


def add_clock_route(
    app: FastAPI,
    read_body: Callable[[Request], Awaitable[Mapping[str, Any]]],
    bad_offset: Callable[[], Exception],
    set_offset: Callable[[float], None],
    now_text: Callable[[], str],
) -> None:
    """``POST /_sandbox/clock {"offset_seconds": s}``: move a sandbox's clock without waiting;
    each sandbox reads the body and refuses a bad offset in its own API's words."""

    @app.post("/_sandbox/clock")
    async def set_clock(request: Request) -> dict[str, Any]:
        body = await read_body(request)
        try:
            offset = float(body.get("offset_seconds", 0))
        except (TypeError, ValueError) as exc:
            raise bad_offset() from exc
        set_offset(offset)
        return {"offset_seconds": offset, "sandbox_time": now_text()}


def sandbox_app(title: str) -> FastAPI:
    """A sandbox's FastAPI app: its own docs under ``/_sandbox``, nothing else at the API's paths."""
    return FastAPI(title=title, docs_url="/_sandbox/docs", openapi_url="/_sandbox/openapi.json", redoc_url=None)


class FaultMiddleware:
    """Stats, fault draw and fault effects; subclasses write :meth:`admit` (who asks, what
    refuses them) and end it with :meth:`serve`. ``/_sandbox`` (the control routes) passes
    untouched: no token, no pace, no faults."""

    # The answer of an ``http_500`` fault (a proxy's page, not the API's JSON).
    html_500: bytes = b"<html><body>Internal Server Error</body></html>"
    # What a dropped connection sends before it closes: a content type and a body's first bytes.
    drop_content_type: bytes = b"application/json"
    drop_fragment: bytes = b'{"code":200,"status":"success","data":{'

    def __init__(
        self,
        app: ASGIApp,
        traffic: Traffic,
        rng: random.Random,
        lock: threading.Lock,
        settings: Callable[[], FaultSettings],
    ) -> None:
        # `settings` is asked at each request: a sandbox's config is replaced or changed while
        # it runs (control routes, tests), and a middleware built at the first request must
        # not keep the config of that moment.
        self.app = app
        self.traffic = traffic
        self._rng = rng
        self._lock = lock
        self._settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_sandbox"):
            await self.app(scope, receive, send)
            return
        await self.admit(scope, receive, send)

    async def admit(self, scope: Scope, receive: Receive, send: Send) -> None:
        """An API request: refuse it (``send_simple``) or end with ``serve``."""
        raise NotImplementedError

    def pick_fault(self, is_create: bool, kinds: Sequence[str]) -> str | None:
        """One draw at the configured rate among `kinds` (``lost_answer`` only for a create)."""
        with self._lock:
            rate = self._settings().fault_rate
            if rate <= 0 or self._rng.random() >= rate:
                return None
            choices = [k for k in kinds if k != "lost_answer" or is_create]
            return self._rng.choice(choices) if choices else None

    def _coin(self) -> bool:
        with self._lock:
            return self._rng.random() < 0.5

    @staticmethod
    async def send_simple(
        send: Send, status: int, body: bytes, content_type: str, extra: list[tuple[bytes, bytes]] | None = None
    ) -> None:
        """A whole answer in two messages (refusals and fault pages, which never reach the app)."""
        headers = [
            (b"content-type", content_type.encode()),
            (b"content-length", str(len(body)).encode()),
            *(extra or []),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _drop(self, send: Send) -> None:
        """Promise a long body, send a fragment and return: uvicorn closes the connection."""
        headers = [(b"content-type", self.drop_content_type), (b"content-length", b"4096")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": self.drop_fragment, "more_body": True})

    async def serve(self, scope: Scope, receive: Receive, send: Send, who: str | None, fault: str | None) -> None:
        """Pass the request to the app (``fault`` None or ``slow``) or answer the fault: a 500
        page, a dropped connection, or a create the app makes whose answer is lost."""
        traffic = self.traffic
        method, path = scope["method"], scope["path"]
        if fault == "slow":
            await asyncio.sleep(self._settings().slow_seconds)
        if fault in (None, "slow"):
            status_box = {"status": 0}

            async def capture(message: Message) -> None:
                # Stats are recorded *before* the last byte goes out, so a client that reads
                # /_sandbox/stats right after its answer always sees its own request counted.
                if message["type"] == "http.response.start":
                    status_box["status"] = int(message["status"])
                elif message["type"] == "http.response.body" and not message.get("more_body", False):
                    traffic.record(method, path, status_box["status"], who, "served", fault)
                await send(message)

            await self.app(scope, receive, capture)
            return
        if fault == "lost_answer":

            async def swallow(message: Message) -> None:
                return None

            await self.app(scope, receive, swallow)  # the record IS created...
            fault_status = 500 if self._coin() else 0  # ...and the client never learns it
        else:
            fault_status = 500 if fault == "http_500" else 0
        traffic.record(method, path, fault_status, who, "faulted", fault)
        if fault_status == 500:
            await self.send_simple(send, 500, self.html_500, "text/html; charset=utf-8")
        else:
            await self._drop(send)
