"""`crmsync serve` runs on uvloop and httptools, which uvicorn picks by itself when they are
installed (pinned in pyproject): about a fifth less CPU per API request than asyncio + h11
(bench/api_load.py, N = 300). This checks the install gives uvicorn what it looks for."""

from __future__ import annotations

from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


async def _app(scope: Any, receive: Any, send: Any) -> None:  # pragma: no cover - never served
    return None


def test_uvicorn_chooses_uvloop_and_httptools_by_default() -> None:
    config = uvicorn.Config(_app)  # the defaults `crmsync serve` keeps (loop and http "auto")
    config.load()
    assert config.http_protocol_class is HttpToolsProtocol
    assert config.get_loop_factory().__module__.startswith("uvloop")
