"""Signed webhooks from API and panel changes, received by a tiny real HTTP server."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from crmsync.sandbox import SandboxServer

SECRET = "webhook-secret-123"


class Receiver:
    """Collects deliveries; answers 500 to the first ``fail_first`` of them."""

    def __init__(self, fail_first: int = 0) -> None:
        self.deliveries: list[tuple[dict[str, str], bytes]] = []
        self.fail_first = fail_first
        self.attempts = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.attempts += 1
                if receiver.attempts <= receiver.fail_first:
                    self.send_response(500)
                    self.end_headers()
                    return
                receiver.deliveries.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def payloads(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.deliveries]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def test_api_and_panel_changes_are_delivered_signed(receiver: Receiver) -> None:
    with (
        SandboxServer(rate_limit=0, webhook_url=receiver.url, webhook_secret=SECRET) as sb,
        httpx.Client(base_url=sb.base_url, headers=sb.headers) as c,
    ):
        created = c.post("/api/clientes", json={"tipo_pessoa": "PF", "nome": "Ana"}).json()["data"]
        c.put(f"/clientes/{created['id']}", json={"tipo_pessoa": "PF", "nome": "Ana Maria"})
        c.delete(f"/clientes/{created['id']}")
        produto = sb.panel_create("produtos", {"nome": "Caneta", "codigo_interno": "CAN", "valor_custo": "1"})
        sb.panel_update("produtos", produto["id"], {"estoque": 3})
        httpx.delete(f"{sb.base_url}/_sandbox/panel/produtos/{produto['id']}")
        assert sb.flush_webhooks()
        assert sb.stats()["webhooks"].get("delivered") == 6

    payloads = receiver.payloads()
    assert [p["evento"] for p in payloads] == [
        "cliente.criado",
        "cliente.atualizado",
        "cliente.excluido",
        "produto.criado",
        "produto.atualizado",
        "produto.excluido",
    ]
    assert payloads[0]["recurso"] == "clientes" and payloads[0]["id"] == created["id"]
    assert payloads[0]["data"]["nome"] == "Ana" and payloads[1]["data"]["nome"] == "Ana Maria"
    assert payloads[2]["data"] is None and payloads[4]["data"]["estoque"] == 3
    assert payloads[3]["origem"] == "painel" and payloads[0]["origem"] == "api"
    assert len({p["delivery_id"] for p in payloads}) == 6
    for headers, body in receiver.deliveries:
        timestamp, delivery = headers["x-sandbox-timestamp"], headers["x-sandbox-delivery"]
        signed = f"{timestamp}.{delivery}.".encode() + body  # the delivery id is signed too
        expected = hmac.new(SECRET.encode(), signed, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers["x-sandbox-signature"], f"sha256={expected}")
        assert headers["x-sandbox-delivery"] == json.loads(body)["delivery_id"]
    occurred = datetime.fromisoformat(payloads[0]["ocorrido_em"].replace("Z", "+00:00"))
    assert occurred.utcoffset() is not None and occurred.utcoffset().total_seconds() == 0


def test_failed_delivery_is_retried() -> None:
    flaky = Receiver(fail_first=2)
    try:
        with SandboxServer(
            rate_limit=0, webhook_url=flaky.url, webhook_secret=SECRET, webhook_backoff_seconds=0.01
        ) as sb:
            sb.panel_create("clientes", {"tipo_pessoa": "PJ", "nome": "Retry LTDA"})
            assert sb.flush_webhooks()
            webhooks = sb.stats()["webhooks"]
        assert flaky.attempts == 3 and len(flaky.deliveries) == 1
        assert webhooks["failed_attempts"] == 2 and webhooks["delivered"] == 1
    finally:
        flaky.close()


def test_unreachable_receiver_never_blocks_the_api() -> None:
    dead = Receiver()
    url = dead.url
    dead.close()  # nothing listens there any more
    with (
        SandboxServer(rate_limit=0, webhook_url=url, webhook_max_attempts=2, webhook_backoff_seconds=0.01) as sb,
        httpx.Client(base_url=sb.base_url, headers=sb.headers) as c,
    ):
        for i in range(5):
            assert c.post("/clientes", json={"tipo_pessoa": "PF", "nome": f"N{i}"}).status_code == 200
        assert sb.flush_webhooks()
        assert sb.stats()["webhooks"]["dropped"] == 5
