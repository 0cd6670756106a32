"""OAuth2 client credentials for SuiteCRM, as an ``httpx.Auth`` flow.

``POST /Api/access_token`` with ``grant_type=client_credentials``, ``client_id`` and
``client_secret`` answers ``{token_type: "Bearer", expires_in, access_token}``. The flow:

* signs every request with the integration's current token, fetching one when there is
  none or when it is within ``renew_margin`` of its expiry (renewed *before* it expires, so
  a long listing does not spend a 401 per hour);
* on a 401 all the same (revoked, server restarted, clock skew), forgets the token, fetches
  a new one and sends the request again, **once**; a second 401 goes back to the caller as
  the answer (the provider turns it into one `AuthError`, never a loop).

Tokens are kept per integration in this process (keyed by a hash of the token URL and the
credentials, never the secret itself), so the providers a worker opens for successive jobs
reuse one token instead of spending a request each. A refused secret (``invalid_client``)
is an `AuthError` saying so, naming the request and never the secret.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

import httpx

from crmsync import fastjson
from crmsync.providers.base import AuthError, ProtocolError, RateLimitedError, RetriableError
from crmsync.providers.transport import parse_retry_after

TOKEN_PATH = "/Api/access_token"


@dataclass
class _Token:
    value: str
    expires_at: float  # time.time() seconds


_TOKENS: dict[str, _Token] = {}
_LOCK = threading.Lock()


def forget_all_tokens() -> None:
    """Drop every cached token (tests that revoke a secret start from a clean slate)."""
    with _LOCK:
        _TOKENS.clear()


class ClientCredentialsAuth(httpx.Auth):
    """Bearer tokens from the client-credentials grant, renewed early and once on a 401."""

    requires_response_body = True

    def __init__(
        self,
        api_root: str,
        client_id: str,
        client_secret: str,
        *,
        renew_margin: float = 60.0,
        clock: Callable[[], float] = time.time,
        pace: Callable[[str], None] | None = None,
    ) -> None:
        self.token_url = api_root.rstrip("/") + TOKEN_PATH
        self._form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret}
        self.renew_margin = renew_margin
        self.cache_key = hashlib.sha256("\x00".join((self.token_url, client_id, client_secret)).encode()).hexdigest()
        self.tokens_fetched = 0  # for tests and figures: how often this flow asked for a token
        self._clock = clock  # time.time; a test moves it instead of waiting
        self._pace = pace  # the transport's pacing, so a token request keeps the integration's pace

    # -- token cache --------------------------------------------------------------------

    def _cached(self) -> str | None:
        with _LOCK:
            token = _TOKENS.get(self.cache_key)
        if token is None or self._clock() >= token.expires_at:
            return None
        return token.value

    def _forget(self, value: str) -> None:
        with _LOCK:
            token = _TOKENS.get(self.cache_key)
            if token is not None and token.value == value:
                del _TOKENS[self.cache_key]

    def _keep(self, value: str, expires_in: float) -> None:
        # Renew before expiry: at `renew_margin`, or at a tenth of a short lifetime.
        margin = min(self.renew_margin, expires_in / 10.0)
        with _LOCK:
            _TOKENS[self.cache_key] = _Token(value, self._clock() + max(0.0, expires_in - margin))

    # -- flow ---------------------------------------------------------------------------

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = self._cached()
        if token is None:
            token = yield from self._fetch()
            self._turn(request)  # the token request used the turn this request was given
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401:
            self._forget(token)
            token = yield from self._fetch()
            self._turn(request)  # sent again: another request on the wire
            request.headers["Authorization"] = f"Bearer {token}"
            yield request

    def _turn(self, request: httpx.Request) -> None:
        if self._pace is not None:
            self._pace(f"{request.method} {request.url.path}")

    def _fetch(self) -> Generator[httpx.Request, httpx.Response, str]:
        desc = f"POST {TOKEN_PATH}"
        token_request = httpx.Request("POST", self.token_url, data=self._form, headers={"Accept": "application/json"})
        if self._pace is not None:
            self._pace(desc)
        response = yield token_request
        self.tokens_fetched += 1
        body = _json_or_none(response)
        status = response.status_code
        if status == 429 or (status == 503 and response.headers.get("retry-after")):
            raise RateLimitedError(
                f"o SuiteCRM recusou o pedido de token por limite (HTTP {status})",
                retry_after=parse_retry_after(response.headers.get("retry-after")),
                request=desc,
            )
        unknown = unknown_client(body)
        if unknown is not None:
            # SuiteCRM 7.14 answers an unknown client_id with a 500 naming it: not a failure of
            # the server, and no retry will make the client exist.
            raise AuthError(
                f"client_id desconhecido no SuiteCRM ({unknown}): confira o client_id do cliente OAuth2",
                request=desc,
            )
        if status >= 500:
            raise RetriableError(f"erro do SuiteCRM ao emitir o token (HTTP {status})", request=desc)
        if status >= 400:
            code = str(body.get("error") or "") if isinstance(body, dict) else ""
            if code == "invalid_client" or status == 401:
                raise AuthError(
                    "credenciais recusadas pelo SuiteCRM (invalid_client): confira o client_secret ou gere "
                    "um novo segredo do cliente OAuth2",
                    request=desc,
                )
            detail = str(body.get("error_description") or body.get("message") or "") if isinstance(body, dict) else ""
            raise AuthError(
                f"o SuiteCRM recusou o pedido de token (HTTP {status}{', ' + code if code else ''}"
                f"{': ' + detail if detail else ''})",
                request=desc,
            )
        if not isinstance(body, dict) or not isinstance(body.get("access_token"), str) or not body["access_token"]:
            kind = "uma página HTML" if _looks_html(response) else "uma resposta sem access_token"
            raise ProtocolError(f"o SuiteCRM respondeu {kind} ao pedido de token", request=desc)
        try:
            expires_in = float(body.get("expires_in") or 3600)
        except (TypeError, ValueError):
            expires_in = 3600.0
        value = str(body["access_token"])
        self._keep(value, expires_in)
        return value


_UNKNOWN_CLIENT = re.compile(r"OAuth2Clients module with id (.{1,200}?) is not found")


def unknown_client(body: Any) -> str | None:
    """The client_id a token answer says does not exist (SuiteCRM's 500 "unknown_error")."""
    if not isinstance(body, dict):
        return None
    found = _UNKNOWN_CLIENT.search(str(body.get("error_description") or body.get("message") or ""))
    return found.group(1) if found else None


def _looks_html(response: httpx.Response) -> bool:
    return "html" in response.headers.get("content-type", "").lower() or response.content.lstrip().startswith(b"<")


def _json_or_none(response: httpx.Response) -> Any:
    if _looks_html(response) or not response.content.strip():
        return None
    try:
        return fastjson.loads(response.content)
    except ValueError:
        return None
