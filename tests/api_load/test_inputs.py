"""Issue #20: inputs that answered 5xx. A price of 1e30 (as a JSON number or as text) is a
422 naming the field, nothing is written, and the keep-alive connection it came on serves the
next request (the old 500 came from an uncaught decimal error, after which the server closed
the connection under the client).

On a real `crmsync serve`, with the standard library's HTTP client so the connection's reuse
is visible (its local port)."""

from __future__ import annotations

import http.client
import json
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from .server import serve


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    with serve(tmp_path_factory.mktemp("inputs"), args=["--no-worker"]) as s:
        yield s


def _call(conn: http.client.HTTPConnection, key: str, method: str, path: str, body: object = None) -> tuple[int, dict]:  # type: ignore[type-arg]
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    conn.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
    r = conn.getresponse()
    return r.status, json.loads(r.read() or b"{}")


@pytest.mark.parametrize("field", ["valor_venda", "valor_custo"])
@pytest.mark.parametrize("value", [1e30, "1e30", "-1E+30"])
def test_a_price_of_1e30_is_a_422_and_the_connection_goes_on(served, field: str, value: object) -> None:  # type: ignore[no-untyped-def]
    url = urlsplit(served.base)
    conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=60)
    key = served.keys[0]
    try:
        status, answer = _call(conn, key, "POST", "/api/produtos", {"nome": "Caneta", field: value})
        assert status == 422, answer
        assert field in json.dumps(answer["detail"])
        port = conn.sock.getsockname()[1]
        status, page = _call(conn, key, "GET", "/api/produtos?limit=1")
        assert status == 200
        assert page["total"] == 0  # nothing written
        assert conn.sock.getsockname()[1] == port  # the same connection answered
    finally:
        conn.close()


def test_the_log_has_no_stack_trace(served) -> None:  # type: ignore[no-untyped-def]
    assert "Traceback" not in Path(served.log).read_text()
