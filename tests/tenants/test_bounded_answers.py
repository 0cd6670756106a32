"""Answers from a CRM are bounded: a drip-fed answer ends at the request's deadline, an
answer over the size cap is refused, and a page longer than the page size asked for, or
repeating an id, is a protocol error for that page (the pull keeps its cursor)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from crmsync.providers.base import ProtocolError
from crmsync.providers.transport import Transport, TransportError

from .loopback import Chunks, LoopbackServer, gestaoclick_at, head


def _transport(url: str, **kw: Any) -> Transport:
    return Transport(url, budget_key="t", rate_limit_per_second=None, daily_quota=None, max_attempts=1, **kw)


def test_drip_fed_answer_ends_at_the_deadline(servers: list[LoopbackServer]) -> None:
    body = b'{"ok": true}' + b" " * 38
    # one byte every 0.2 s: each read is well within the 1 s read timeout, so only an
    # overall deadline stops it before the whole 10 s answer has dripped in
    drip: Chunks = [(0.2, body[i : i + 1]) for i in range(len(body))]
    server = LoopbackServer(lambda _line: (head(length=len(body)), drip))
    servers.append(server)
    with _transport(server.url, timeout=1.0, deadline=1.5) as transport, pytest.raises(TransportError) as info:
        transport.request("GET", "/clientes")
    assert info.value.timed_out
    assert info.value.request == "GET /clientes"
    # the same answer without a deadline short enough is read in full: the bound is what stopped it
    with _transport(server.url, timeout=1.0, deadline=60) as transport:
        assert transport.request("GET", "/clientes").json() == {"ok": True}


@pytest.mark.parametrize("declared", [True, False])
def test_answer_over_the_size_cap_is_refused(servers: list[LoopbackServer], declared: bool) -> None:
    body = b"[" + b'"x",' * 100_000 + b'"x"]'
    chunks: Chunks = [(0, body[i : i + 65536]) for i in range(0, len(body), 65536)]
    server = LoopbackServer(lambda _line: (head(length=len(body) if declared else None), chunks))
    servers.append(server)
    too_small = _transport(server.url, max_answer_bytes=100_000)
    with too_small, pytest.raises(ProtocolError, match="maior que o limite"):
        too_small.request("GET", "/produtos")
    with _transport(server.url, max_answer_bytes=1_000_000) as transport:
        assert len(transport.request("GET", "/produtos").json()) == 100_001


def _page(items: list[dict[str, Any]]) -> bytes:
    meta = {"total_registros": len(items), "total_da_pagina": len(items), "pagina_atual": 1}
    meta.update({"limite_por_pagina": 100, "proxima_pagina": None, "proxima_url": None})
    return json.dumps({"code": 200, "status": "success", "meta": meta, "data": items}).encode()


def _cliente(i: int) -> dict[str, Any]:
    return {"id": str(i), "tipo_pessoa": "PF", "nome": f"Cliente {i}", "ativo": "1"}


@pytest.mark.parametrize(
    ("items", "message"),
    [
        ([_cliente(i) for i in range(1, 151)], "150 itens, mais que os 100 pedidos"),
        ([_cliente(1), _cliente(2), _cliente(1)], "repete o id 1"),
    ],
    ids=["longer-than-asked", "repeated-id"],
)
def test_bad_page_is_a_protocol_error(servers: list[LoopbackServer], items: list[dict[str, Any]], message: str) -> None:
    body = _page(items)
    server = LoopbackServer(lambda _line: (head(length=len(body)), [(0, body)]))
    servers.append(server)
    provider = gestaoclick_at(server.url)
    try:
        with pytest.raises(ProtocolError, match=message) as info:
            provider.list_page("cliente", 1)
        assert info.value.request == "GET /clientes?pagina=1&limite=100"
        with pytest.raises(ProtocolError, match=message):
            provider.find_by_keys("cliente", {"email": "a@b.com"})
    finally:
        provider.close()
