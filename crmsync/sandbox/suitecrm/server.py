"""``SuiteCrmSandboxServer``: the SuiteCRM sandbox on a free loopback port inside this process.

Same harness as :class:`crmsync.sandbox.server.SandboxServer` (both are a
:class:`~crmsync.sandbox.server.LoopbackSandbox`): a context manager with ``.base_url``
(where SuiteCRM is installed: the API is under ``/Api``),
``.store`` to edit beans "from the SuiteCRM UI" without the API, and the OAuth client in
``.client_id`` / ``.client_secret``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx

from crmsync.sandbox.server import LoopbackSandbox, SandboxParts
from crmsync.sandbox.suitecrm.app import SuiteCrmState, build_state, create_app
from crmsync.sandbox.suitecrm.config import SuiteCrmSandboxConfig
from crmsync.sandbox.suitecrm.errors import JSON_API
from crmsync.sandbox.suitecrm.store import SuiteCrmStore


class SuiteCrmSandboxServer(LoopbackSandbox[SuiteCrmSandboxConfig, SuiteCrmState]):
    """``with SuiteCrmSandboxServer(token_ttl_seconds=60) as sb: ...`` — a running SuiteCRM stand-in.

    A restart (stop() then start()) keeps data, tokens, stats and the port: an outage."""

    parts = SandboxParts(SuiteCrmSandboxConfig, build_state, create_app)

    def _release(self, state: SuiteCrmState) -> None:
        state.store.close()

    # ------------------------------------------------------------------ accessors
    @property
    def store(self) -> SuiteCrmStore:
        return self.state.store

    @property
    def client_id(self) -> str:
        return self.config.client_id

    @property
    def client_secret(self) -> str:
        return self.config.client_secret

    def access_token(self) -> str:
        """A fresh client_credentials token, fetched over HTTP like a client would (for tests)."""
        answer = httpx.post(
            f"{self.base_url}/Api/access_token",
            data={"grant_type": "client_credentials", "client_id": self.client_id, "client_secret": self.client_secret},
            timeout=10,
        )
        answer.raise_for_status()
        return str(answer.json()["access_token"])

    def headers(self, token: str | None = None) -> dict[str, str]:
        """JSON:API headers with a bearer token (a fresh one unless given)."""
        return {
            "Authorization": f"Bearer {token or self.access_token()}",
            "Content-Type": JSON_API,
            "Accept": JSON_API,
        }

    def stats(self) -> dict[str, Any]:
        return self.state.stats()

    def requests(self) -> list[dict[str, Any]]:
        return self.state.traffic.requests()

    def reset_stats(self) -> None:
        self.state.traffic.reset(quota=True)

    def set_clock_offset(self, seconds: float) -> None:
        self.state.set_clock_offset(seconds)

    def advance_clock(self, seconds: float) -> None:
        self.state.set_clock_offset(self.state.clock.offset_seconds + seconds)

    def expire_tokens(self) -> int:
        return self.state.tokens.expire_all()

    def revoke_tokens(self) -> None:
        self.state.tokens.revoke_all()

    def rotate_client_secret(self, new_secret: str) -> None:
        """An admin changes the OAuth client's secret: old tokens are revoked, the old secret is refused."""
        if not new_secret:
            raise ValueError("client_secret must not be empty")
        self.config.client_secret = new_secret
        self.state.tokens.revoke_all()

    def set_faults(self, rate: float, kinds: tuple[str, ...] | None = None, slow_seconds: float | None = None) -> None:
        self.state.set_faults(rate, kinds, slow_seconds)

    def queue_fault(self, kind: str, times: int = 1, method: str | None = None, path_prefix: str | None = None) -> None:
        """Force a fault on the next matching API request(s): ``sb.queue_fault("http_429")``."""
        self.state.queue_fault(kind, times, method, path_prefix)

    # ------------------------------------------------------------------ panel (no auth, no faults)
    def panel_create(self, module: str, attributes: dict[str, Any], bean_id: str | None = None) -> dict[str, Any]:
        return self.store.create(module, attributes, bean_id)

    def panel_update(self, module: str, bean_id: str, attributes: dict[str, Any]) -> dict[str, Any]:
        return self.store.update(module, bean_id, attributes, panel=True)

    def panel_delete(self, module: str, bean_id: str) -> None:
        self.store.delete(module, bean_id)

    def panel_get(self, module: str, bean_id: str, include_deleted: bool = False) -> dict[str, Any]:
        return self.store.get(module, bean_id, include_deleted=include_deleted)

    def panel_set_date_modified(self, module: str, bean_id: str, stamp: str | datetime) -> dict[str, Any]:
        return self.store.set_date_modified(module, bean_id, stamp)
