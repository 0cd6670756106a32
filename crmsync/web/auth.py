"""Console sessions: a signed cookie that names the signed-in store, plus its CSRF token.

Why a signed cookie and not a server-side session table: the console is a thin view over the
crm_* tables and must run wherever the API runs (one process or many) with no extra storage.
The cookie holds only the store id, a fingerprint of the store's current API key hash and a
random CSRF token; it is signed with a key derived from ``CRMSYNC_SECRET_KEY`` (itsdangerous
salts the HMAC, so the signature key differs from the Fernet key's other use).

A signed-in session also carries a random id; signing out records it as ended on the server
(`crmsync.services.console_sessions`), so a copy of the cookie taken before stops working.

The key fingerprint makes a rotated or revoked API key end every console session opened with
the old key, without having to track sessions. A visitor who has not signed in still gets a
cookie (with a CSRF token only), so the sign-in form is protected against login CSRF too.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

from crmsync.services.console_sessions import console_session_ended, end_console_session
from crmsync.settings import get_settings

COOKIE_NAME = "crmsync_console"
SESSION_MAX_AGE = 12 * 3600  # a working day: staff sign in again the next morning
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
_SALT = "crmsync.web.console.session.v1"


class LoginRequired(Exception):
    """Raised by pages that need a signed-in store; the console answers with a redirect."""


class CsrfFailed(Exception):
    """A POST without the session's CSRF token; the console answers 403."""


@dataclass
class ConsoleSession:
    """What the cookie carries. ``dirty`` marks that the cookie must be written back."""

    csrf: str
    sid: str | None = None  # a signed-in session's id, so a sign-out can end it server-side
    loja_id: int | None = None
    key_fingerprint: str | None = None
    flash: dict[str, str] | None = None
    dirty: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def to_payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {"c": self.csrf}
        if self.loja_id is not None:
            data["l"] = self.loja_id
            data["k"] = self.key_fingerprint
            data["s"] = self.sid
        if self.flash:
            data["f"] = self.flash
        return data

    @classmethod
    def from_payload(cls, data: Any) -> ConsoleSession | None:
        if not isinstance(data, dict) or not isinstance(data.get("c"), str):
            return None
        loja = data.get("l")
        flash = data.get("f")
        return cls(
            csrf=data["c"],
            sid=data.get("s") if isinstance(data.get("s"), str) else None,
            loja_id=loja if isinstance(loja, int) else None,
            key_fingerprint=data.get("k") if isinstance(data.get("k"), str) else None,
            flash=flash if isinstance(flash, dict) else None,
        )

    def set_flash(self, text: str, kind: str = "sucesso") -> None:
        self.flash = {"text": text, "kind": kind}
        self.dirty = True

    def pop_flash(self) -> dict[str, str] | None:
        flash, self.flash = self.flash, None
        if flash:
            self.dirty = True
        return flash


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(get_settings().resolved_secret_key(), salt=_SALT)


def key_fingerprint(api_key_hash: str) -> str:
    """A short, one-way tag of the store's key hash (the hash itself never leaves the DB)."""
    return hashlib.sha256(("console:" + api_key_hash).encode()).hexdigest()[:20]


def new_session() -> ConsoleSession:
    return ConsoleSession(csrf=secrets.token_urlsafe(32), dirty=True)


def load_session(request: Request) -> ConsoleSession:
    """The request's session, or a fresh anonymous one (bad/expired signature = anonymous)."""
    cached = getattr(request.state, "console_session", None)
    if isinstance(cached, ConsoleSession):
        return cached
    raw = request.cookies.get(COOKIE_NAME)
    session: ConsoleSession | None = None
    if raw:
        try:
            session = ConsoleSession.from_payload(_serializer().loads(raw, max_age=SESSION_MAX_AGE))
        except BadSignature:
            session = None
    # A signed-in cookie without a session id (older) or whose session was ended by a
    # sign-out is anonymous: signing out holds even against a copy of the cookie.
    if (
        session is not None
        and session.loja_id is not None
        and (session.sid is None or console_session_ended(session.sid))
    ):
        session = None
    if session is None:
        session = new_session()
    request.state.console_session = session
    return session


def start_store_session(request: Request, loja_id: int, api_key_hash: str) -> ConsoleSession:
    """Sign a store in with a brand-new session (new CSRF token: no session fixation)."""
    session = new_session()
    session.loja_id = loja_id
    session.sid = secrets.token_urlsafe(16)
    session.key_fingerprint = key_fingerprint(api_key_hash)
    request.state.console_session = session
    return session


def end_session(request: Request) -> ConsoleSession:
    """Sign out: the session's id is recorded as ended on the server (see
    `crmsync.services.console_sessions`), then the browser gets a fresh anonymous cookie."""
    old = load_session(request)
    if old.sid is not None:
        end_console_session(old.sid, SESSION_MAX_AGE)
    session = new_session()
    request.state.console_session = session
    return session


def write_cookie(request: Request, response: Response) -> None:
    """Write the session back when it changed (sign-in, sign-out, flash, first visit).

    The cookie is re-signed on every write, which also slides the expiry forward.
    """
    session = getattr(request.state, "console_session", None)
    if not isinstance(session, ConsoleSession) or not session.dirty:
        return
    response.set_cookie(
        COOKIE_NAME,
        _serializer().dumps(session.to_payload()),
        max_age=SESSION_MAX_AGE,
        path="/console",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )


def check_csrf(request: Request, submitted: str | None) -> None:
    """Compare the submitted token (form field or header) with the session's, in constant time."""
    session = load_session(request)
    token = submitted or request.headers.get(CSRF_HEADER) or ""
    if not token or not hmac.compare_digest(token.encode(), session.csrf.encode()):
        raise CsrfFailed()
