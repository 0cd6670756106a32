"""`crmsync serve` logs each request (uvicorn's access log) only at CRMSYNC_LOG_LEVEL INFO
or DEBUG: above, nothing per request, which also spares its CPU under load (issue #20)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from .server import serve


@pytest.mark.parametrize(("level", "logged"), [("INFO", True), ("WARNING", False)])
def test_access_log_follows_the_log_level(tmp_path: Path, level: str, logged: bool) -> None:
    env = {"CRMSYNC_DATA_DIR": str(tmp_path), "CRMSYNC_LOG_LEVEL": level}
    with serve(tmp_path, stores=0, env=env, args=["--no-worker"]) as served:
        answer = httpx.get(f"{served.base}/api/clientes?limit=7", timeout=30)
        assert answer.status_code == 401
        log = served.log.read_text()  # uvicorn writes the line before it sends the answer
    assert ('"GET /api/clientes?limit=7 HTTP/1.1" 401' in log) is logged, log
