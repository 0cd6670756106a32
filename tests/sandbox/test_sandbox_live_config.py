"""A sandbox's config replaced while it runs takes effect at the next request (tests and the
control routes change the fault rate of a running sandbox; the traffic middleware is built at
the first request and must not keep the config of that moment)."""

from __future__ import annotations

import contextlib
import dataclasses

import httpx

from crmsync.sandbox.server import SandboxServer

HEADERS = {"access-token": "live-acc", "secret-access-token": "live-sec"}


def test_a_fault_rate_set_after_the_first_request_is_applied_and_undone() -> None:
    with SandboxServer(access_token="live-acc", secret_access_token="live-sec", rate_limit=0, seed_records=1) as sb:
        with httpx.Client(base_url=sb.base_url, headers=HEADERS, timeout=60) as c:
            assert c.get("/clientes").status_code == 200  # the middleware is built now
            calm = sb.state.config
            sb.state.config = dataclasses.replace(calm, fault_rate=1.0, slow_seconds=0.01)
            for _ in range(5):
                with contextlib.suppress(httpx.TransportError):  # a dropped connection is a fault too
                    c.get("/clientes")
            sb.state.config = calm
            assert c.get("/clientes").status_code == 200
        faults = [r.get("fault") for r in sb.requests()]
        assert faults[0] is None and faults[-1] is None
        assert all(faults[1:6]), faults  # every request under fault_rate 1.0 drew a fault
