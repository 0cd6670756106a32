"""`crmsync serve --metrics-port`: /metrics is answered only on its own port (the scraper's
network need not reach the API), with its token when one is set, and nothing else there."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from .server import free_port, serve


def _wait_for(url: str) -> httpx.Response:
    deadline = time.monotonic() + 120
    while True:
        try:
            return httpx.get(url, timeout=10)
        except httpx.TransportError:
            assert time.monotonic() < deadline, f"nothing answered at {url}"
            time.sleep(0.2)


def test_metrics_move_to_their_own_port(tmp_path: Path) -> None:
    port = free_port()
    with serve(tmp_path, stores=1, args=["--metrics-port", str(port)], env={"CRMSYNC_METRICS_TOKEN": "raspar"}) as api:
        metrics = f"http://127.0.0.1:{port}"
        assert _wait_for(f"{metrics}/metrics").status_code == 401  # the token still applies
        token = {"Authorization": "Bearer raspar"}
        scraped = httpx.get(f"{metrics}/metrics", headers=token, timeout=10)
        assert scraped.status_code == 200
        assert "# TYPE" in scraped.text
        assert httpx.get(f"{api.base}/metrics", headers=token, timeout=10).status_code == 404
        assert httpx.get(f"{metrics}/health", timeout=10).status_code == 404
        assert httpx.get(f"{metrics}/docs", timeout=10).status_code == 404
        key = {"Authorization": f"Bearer {api.keys[0]}"}
        assert httpx.get(f"{api.base}/api/clientes?limit=1", headers=key, timeout=30).status_code == 200
