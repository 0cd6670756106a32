"""The ASGI shapes the hand-written middlewares (the API's admission and body limits, the
sandboxes' rate limits) are typed with, and the `receive` they hand to a response they send
without reading the request: written once, as Starlette keeps its own private."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


async def never_receive() -> Message:
    """A `receive` for a response sent without the request's body: the client is gone."""
    return {"type": "http.disconnect"}
