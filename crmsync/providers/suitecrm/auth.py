"""OAuth2 client credentials for SuiteCRM: tokens fetched through the integration's transport,
kept until shortly before they expire, shared by every process on the machine.

``POST /Api/access_token`` with ``grant_type=client_credentials``, ``client_id`` and
``client_secret`` answers ``{token_type: "Bearer", expires_in, access_token}``.

* The token request goes through the same `Transport` as every other request: the
  integration's pace, the overall deadline and the size cap while reading (a drip-fed or
  flooding token answer cannot hold a worker), and it counts in the figures.
* A token is reused until `renew_margin` before it expires: in this process (a dict) and
  across processes (`TokenStore`, a SQLite file in the data directory, the token encrypted
  with the key that encrypts the credentials). So ten CLI runs or a worker restart spend one
  token request, not one each; SuiteCRM keeps a row in ``oauth2tokens`` for every one.
* On a 401 the provider forgets the token and asks once more (`forget`), never in a loop.
* SuiteCRM 7.14 answers an unknown client_id with a **500** naming it: an `AuthError`
  "client_id desconhecido no SuiteCRM (X)", not a server failure to retry. A refused secret
  (401 ``invalid_client``) is "credenciais recusadas". Neither message holds the secret.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from cryptography.fernet import Fernet, InvalidToken

from crmsync import fastjson
from crmsync.providers.base import AuthError, ProtocolError, RetriableError
from crmsync.providers.transport import ServerError

TOKEN_PATH = "/Api/access_token"
TOKEN_FILE = "crmsync-tokens.db"


@dataclass
class _Token:
    value: str
    expires_at: float  # time.time() seconds, already minus the renewal margin


_TOKENS: dict[str, _Token] = {}
_LOCK = threading.Lock()


def forget_all_tokens() -> None:
    """Drop every token cached in this process (tests that revoke a secret start clean)."""
    with _LOCK:
        _TOKENS.clear()


class TokenStore:
    """Tokens shared by the processes of one machine: ``key -> encrypted token, expiry``.

    A store that cannot be opened or read is no store (a token is fetched instead): it only
    saves requests, it never decides anything."""

    def __init__(self, path: Path, secret_key: str) -> None:
        self.path = path
        self._fernet = Fernet(secret_key.encode())

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=10.0, isolation_level=None)
        conn.execute("CREATE TABLE IF NOT EXISTS tokens (key TEXT PRIMARY KEY, token TEXT NOT NULL, expires_at REAL)")
        return conn

    def get(self, key: str, now: float) -> _Token | None:
        try:
            with self._connect() as conn:
                row = conn.execute("SELECT token, expires_at FROM tokens WHERE key = ?", (key,)).fetchone()
            if row is None or float(row[1]) <= now:
                return None
            return _Token(self._fernet.decrypt(str(row[0]).encode()).decode(), float(row[1]))
        except (sqlite3.Error, InvalidToken, OSError, ValueError):
            return None

    def put(self, key: str, token: _Token) -> None:
        try:
            sealed = self._fernet.encrypt(token.value.encode()).decode()
            with self._connect() as conn:
                conn.execute(
                    "INSERT INTO tokens (key, token, expires_at) VALUES (?, ?, ?) "
                    "ON CONFLICT(key) DO UPDATE SET token = excluded.token, expires_at = excluded.expires_at",
                    (key, sealed, token.expires_at),
                )
                conn.execute("DELETE FROM tokens WHERE expires_at < ?", (time.time() - 86400,))
        except (sqlite3.Error, OSError):
            return

    def forget(self, key: str, value: str) -> None:
        try:
            with self._connect() as conn:
                row = conn.execute("SELECT token FROM tokens WHERE key = ?", (key,)).fetchone()
                if row is not None and self._fernet.decrypt(str(row[0]).encode()).decode() == value:
                    conn.execute("DELETE FROM tokens WHERE key = ?", (key,))
        except (sqlite3.Error, InvalidToken, OSError):
            return


PostForm = Callable[[Mapping[str, str]], httpx.Response]


class ClientCredentials:
    """The bearer token of one integration's OAuth2 client."""

    def __init__(
        self,
        api_root: str,
        client_id: str,
        client_secret: str,
        *,
        store: TokenStore | None = None,
        renew_margin: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret}
        self.cache_key = hashlib.sha256(
            "\x00".join((api_root.rstrip("/") + TOKEN_PATH, client_id, client_secret)).encode()
        ).hexdigest()
        self.store = store
        self.renew_margin = renew_margin
        self.tokens_fetched = 0  # for tests and figures: how often this process asked for one
        self._clock = clock  # time.time; a test moves it instead of waiting

    def token(self, post: PostForm) -> str:
        """A live token: this process's, another process's (`store`), or a new one."""
        now = self._clock()
        with _LOCK:
            cached = _TOKENS.get(self.cache_key)
        if cached is not None and now < cached.expires_at:
            return cached.value
        if self.store is not None:
            shared = self.store.get(self.cache_key, now)
            if shared is not None:
                with _LOCK:
                    _TOKENS[self.cache_key] = shared
                return shared.value
        return self._fetch(post)

    def forget(self, value: str) -> None:
        """The server refused `value` (401): never use it again, here or in another process."""
        with _LOCK:
            cached = _TOKENS.get(self.cache_key)
            if cached is not None and cached.value == value:
                del _TOKENS[self.cache_key]
        if self.store is not None:
            self.store.forget(self.cache_key, value)

    def _fetch(self, post: PostForm) -> str:
        desc = f"POST {TOKEN_PATH}"
        self.tokens_fetched += 1
        try:
            response = post(self._form)
        except ServerError as exc:
            unknown = unknown_client(_json_or_none(exc.body))
            if unknown is not None:
                # No retry makes a missing client exist: one refusal, naming the id.
                raise AuthError(
                    f"client_id desconhecido no SuiteCRM ({unknown}): confira o client_id do cliente OAuth2",
                    request=desc,
                ) from None
            raise RetriableError(f"erro do SuiteCRM ao emitir o token (HTTP {exc.status})", request=desc) from None
        body = _json_or_none(response.content, response)
        status = response.status_code
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
        # Renew before expiry: at `renew_margin`, or at a tenth of a short lifetime.
        margin = min(self.renew_margin, expires_in / 10.0)
        token = _Token(str(body["access_token"]), self._clock() + max(0.0, expires_in - margin))
        with _LOCK:
            _TOKENS[self.cache_key] = token
        if self.store is not None:
            self.store.put(self.cache_key, token)
        return token.value


_UNKNOWN_CLIENT = re.compile(r"OAuth2Clients module with id (.{1,200}?) is not found")


def unknown_client(body: Any) -> str | None:
    """The client_id a token answer says does not exist (SuiteCRM's 500 "unknown_error")."""
    if not isinstance(body, dict):
        return None
    found = _UNKNOWN_CLIENT.search(str(body.get("error_description") or body.get("message") or ""))
    return found.group(1) if found else None


def _looks_html(response: httpx.Response) -> bool:
    return "html" in response.headers.get("content-type", "").lower() or response.content.lstrip().startswith(b"<")


def _json_or_none(content: bytes, response: httpx.Response | None = None) -> Any:
    if (response is not None and _looks_html(response)) or not content.strip() or content.lstrip().startswith(b"<"):
        return None
    try:
        return fastjson.loads(content)
    except ValueError:
        return None


__all__ = ["TOKEN_FILE", "TOKEN_PATH", "ClientCredentials", "TokenStore", "forget_all_tokens", "unknown_client"]
