"""HTTP transports that stand for the network between us and a CRM, for fault tests."""

from __future__ import annotations

import httpx


class LoseAnswers(httpx.BaseTransport):
    """The network between us and the sandbox: when armed, the next POST reaches the sandbox
    (the create happens) but its answer never comes back (token requests pass)."""

    def __init__(self, armed: bool = False) -> None:
        self.inner = httpx.HTTPTransport()
        self.armed = armed
        self.lost = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if self.armed and request.method == "POST" and not request.url.path.endswith("access_token"):
            self.armed = False
            self.lost += 1
            response.read()
            response.close()
            raise httpx.ReadTimeout("injected: the answer was lost", request=request)
        return response

    def close(self) -> None:
        self.inner.close()
