"""OAuth2 of the SuiteCRM sandbox: ``POST /Api/access_token`` and bearer-token checks.

SuiteCRM uses league/oauth2-server: the client_credentials grant for server-to-server
clients, the password grant (with a refresh token) for user logins. Tokens live
``token_ttl_seconds`` on the sandbox clock, so a test moves the clock instead of sleeping.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any

from crmsync.sandbox.formats import SandboxClock
from crmsync.sandbox.suitecrm.config import SuiteCrmSandboxConfig
from crmsync.sandbox.suitecrm.errors import OAuthError, access_denied, invalid_client, invalid_request


@dataclass
class _Token:
    expires_at: float
    grant: str
    revoked: bool = False


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _jwt(key: bytes, claims: dict[str, Any]) -> str:
    """A JWT-shaped token like league/oauth2-server's (clients may read ``exp`` from it).

    Signed with HMAC here instead of SuiteCRM's RSA key pair: no client can verify either.
    """
    head = _b64(json.dumps({"typ": "JWT", "alg": "HS256"}).encode())
    body = _b64(json.dumps(claims, separators=(",", ":")).encode())
    signature = _b64(hmac.new(key, f"{head}.{body}".encode(), hashlib.sha256).digest())
    return f"{head}.{body}.{signature}"


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


class TokenIssuer:
    """Issues and checks tokens; thread-safe; counts what it did for ``/_sandbox/stats``."""

    def __init__(self, config: SuiteCrmSandboxConfig, clock: SandboxClock) -> None:
        self.config = config
        self.clock = clock
        self._lock = threading.Lock()
        self._access: dict[str, _Token] = {}
        self._refresh: dict[str, float] = {}
        self._key = secrets.token_bytes(32)
        self.counts: Counter[str] = Counter()

    def grant(self, form: dict[str, Any], basic: tuple[str, str] | None = None) -> dict[str, Any]:
        """The answer of ``/Api/access_token`` for these parameters, or an :class:`OAuthError`."""
        grant_type = str(form.get("grant_type") or "")
        if not grant_type:
            raise OAuthError(
                "unsupported_grant_type",
                "The authorization grant type is not supported by the authorization server.",
                400,
                hint="Check that all required parameters have been provided",
            )
        if grant_type not in ("client_credentials", "password", "refresh_token"):
            raise OAuthError(
                "unsupported_grant_type",
                "The authorization grant type is not supported by the authorization server.",
                400,
                hint="Check that all required parameters have been provided",
            )
        client_id, client_secret = basic or (str(form.get("client_id") or ""), str(form.get("client_secret") or ""))
        if not client_id:
            raise invalid_request("client_id")
        if not _same(client_id, self.config.client_id):
            # SuiteCRM 7.14's ClientRepository loads the OAuth2Clients bean and fails with a 500
            # naming the id (league/oauth2-server's "unknown_error"), not a 401.
            self.counts["unknown_client"] += 1
            raise OAuthError("unknown_error", f"OAuth2Clients module with id {client_id} is not found", 500)
        if not _same(client_secret, self.config.client_secret):
            self.counts["invalid_client"] += 1
            raise invalid_client()
        refresh: str | None = None
        if grant_type == "password":
            username, password = str(form.get("username") or ""), str(form.get("password") or "")
            if not username:
                raise invalid_request("username")
            if not password:
                raise invalid_request("password")
            if not (_same(username, self.config.username) and _same(password, self.config.password)):
                self.counts["invalid_grant"] += 1
                raise OAuthError("invalid_grant", "The user credentials were incorrect.", 400)
            refresh = secrets.token_urlsafe(32)
        elif grant_type == "refresh_token":
            given = str(form.get("refresh_token") or "")
            if not given:
                raise invalid_request("refresh_token")
            with self._lock:
                expires = self._refresh.pop(given, None)
            if expires is None or expires < self.clock.time():
                raise OAuthError(
                    "invalid_request",
                    "The refresh token is invalid.",
                    401,
                    hint="Token has been revoked" if expires is None else "Token has expired",
                )
            refresh = secrets.token_urlsafe(32)
        ttl = self.config.token_ttl_seconds
        now = self.clock.time()
        claims = {
            "aud": client_id,
            "jti": secrets.token_hex(40),
            "iat": int(now),
            "nbf": int(now),
            "exp": int(now + ttl),
            "sub": "1" if grant_type != "client_credentials" else "",
            "scopes": [],
        }
        token = _jwt(self._key, claims)
        with self._lock:
            self._access[token] = _Token(now + ttl, grant_type)
            if refresh is not None:
                self._refresh[refresh] = self.clock.time() + 30 * 86400
            self.counts["issued"] += 1
        answer: dict[str, Any] = {"token_type": "Bearer", "expires_in": int(ttl), "access_token": token}
        if refresh is not None:
            answer["refresh_token"] = refresh
        return answer

    def check(self, authorization: str) -> None:
        """Accept a valid ``Authorization: Bearer`` header or raise the 401 SuiteCRM answers."""
        if not authorization:
            self._count("missing")
            raise access_denied('Missing "Authorization" header')
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or token.count(".") != 2:
            self._count("malformed")
            raise access_denied("The JWT string must have two dots")
        with self._lock:
            found = self._access.get(token)
        if found is None:
            self._count("unknown")
            raise access_denied("Access token could not be verified")
        if found.revoked:
            self._count("revoked")
            raise access_denied("Access token has been revoked")
        if found.expires_at <= self.clock.time():
            self._count("expired")
            raise access_denied("Access token is invalid")

    def _count(self, what: str) -> None:
        with self._lock:
            self.counts[f"rejected_{what}"] += 1

    def expire_all(self) -> int:
        """Panel helper: every token issued so far is now expired (as after an hour)."""
        with self._lock:
            now = self.clock.time()
            for tok in self._access.values():
                tok.expires_at = min(tok.expires_at, now)
            return len(self._access)

    def revoke_all(self) -> None:
        """Panel helper: an admin revokes every token of the client (refresh tokens too)."""
        with self._lock:
            for tok in self._access.values():
                tok.revoked = True
            self._refresh.clear()

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            now = self.clock.time()
            live = sum(1 for t in self._access.values() if t.expires_at > now and not t.revoked)
            # Every token request leaves a row in SuiteCRM's oauth2tokens (nothing prunes them).
            return {
                "live": live,
                "oauth2tokens": len(self._access),
                "ttl_seconds": self.config.token_ttl_seconds,
                **dict(self.counts),
            }
