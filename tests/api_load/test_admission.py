"""The admission rule of `crmsync.api.limits.ConcurrencyLimit`, deterministically: with its
slots taken, the next request answers 503 with Retry-After and a JSON detail once its wait
is over, and a freed slot admits the next one. The inner app is a plain ASGI app that holds
its slot until the test releases it (an event, not a clock)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from crmsync.api.limits import BUSY_DETAIL, ConcurrencyLimit


def test_past_the_limit_a_request_gets_503_then_a_freed_slot_admits() -> None:
    async def scenario() -> None:
        release = asyncio.Event()
        entered = asyncio.Event()

        async def held(scope: Any, receive: Any, send: Any) -> None:
            entered.set()
            await release.wait()
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})

        app = ConcurrencyLimit(held, limit=1, wait_seconds=0.05)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            first = asyncio.create_task(http.get("/"))
            await entered.wait()
            refused = await http.get("/")
            assert refused.status_code == 503
            assert refused.headers["Retry-After"].isdigit()
            assert refused.json() == {"detail": BUSY_DETAIL}
            release.set()
            assert (await first).status_code == 200
            assert (await http.get("/")).status_code == 200  # the slot came back

    asyncio.run(scenario())
