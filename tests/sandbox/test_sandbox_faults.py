"""Fault injection: deterministic with a seed, every kind counted, lost answers really create."""

from __future__ import annotations

import contextlib
from collections import Counter

import httpx

from crmsync.sandbox import SandboxServer


def test_every_fault_kind_happens_and_is_counted() -> None:
    with (
        SandboxServer(rate_limit=0, fault_rate=1.0, seed=1234, slow_seconds=0.05) as sb,
        httpx.Client(base_url=sb.base_url, headers=sb.headers, timeout=5) as c,
    ):
        outcomes: Counter[str] = Counter()
        for i in range(40):
            try:
                r = c.post("/api/clientes", json={"tipo_pessoa": "PF", "nome": f"Cliente {i}"})
                outcomes[str(r.status_code)] += 1
                if r.status_code == 500:
                    assert r.text == "<html><body>Internal Server Error</body></html>"
                    assert r.headers["content-type"].startswith("text/html")
            except httpx.TransportError:
                outcomes["transport_error"] += 1
        for _ in range(20):
            try:
                outcomes[f"get-{c.get('/clientes').status_code}"] += 1
            except httpx.TransportError:
                outcomes["get-transport_error"] += 1
        stats = sb.stats()
        faults = stats["faults"]
        assert all(faults[k] > 0 for k in ("http_500", "slow", "drop", "lost_answer")), faults
        assert sum(faults.values()) == 60  # fault_rate=1.0: every API request got one
        assert outcomes["transport_error"] + outcomes["get-transport_error"] > 0
        # A lost answer still created the record: rows = answered creates + lost answers.
        route = stats["routes"]["POST /clientes"]
        assert sb.store.count("clientes") == outcomes["200"] + route["lost_answer"]
        assert route["slow"] == outcomes["200"]
        assert stats["routes"]["GET /clientes"].get("lost_answer", 0) == 0  # only creates lose answers
        # The control routes never fail.
        assert httpx.get(sb.base_url + "/_sandbox/stats").status_code == 200
        dropped = [e for e in sb.requests() if e.get("fault") == "drop"]
        assert dropped and all(e["status"] == 0 for e in dropped)


def test_same_seed_same_faults() -> None:
    def run() -> list[str | None]:
        with (
            SandboxServer(rate_limit=0, fault_rate=0.5, seed=99, slow_seconds=0.01) as sb,
            httpx.Client(base_url=sb.base_url, headers=sb.headers, timeout=5) as c,
        ):
            for _ in range(15):
                with contextlib.suppress(httpx.TransportError):
                    c.get("/produtos")
            return [e.get("fault") for e in sb.requests()]

    first = run()
    assert first == run() and any(first) and not all(first)
