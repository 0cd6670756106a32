"""Console sign-outs that hold on the server: a session ended by "Sair" stays ended even if
someone kept a copy of its cookie.

The console's cookie is signed and stateless (see `crmsync.web.auth`); signing out used to
only overwrite the cookie in the browser, so a copy taken earlier (a shared computer, a
proxy log) still opened the store until it expired. Each signed-in session now carries a
random id, and signing out records that id as ended in the runtime state (the SQLite queue
file or Redis, shared by every process), for as long as the cookie could still be valid.
"""

from __future__ import annotations

from crmsync.runtime.queue import get_state


def _key(session_id: str) -> str:
    return f"console:ended:{session_id}"


def end_console_session(session_id: str, max_age: float) -> None:
    """Record the session as ended until its cookie would have expired anyway."""
    get_state().set_if_absent(_key(session_id), "1", max_age)


def console_session_ended(session_id: str) -> bool:
    return get_state().is_locked(_key(session_id))
