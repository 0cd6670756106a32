"""After-write hook: how a local save schedules its push without the API knowing the queue.

The runtime registers a listener (enqueue a push job); the API and any other writer of
local rows call `after_local_write` after their commit. A listener error is logged and
swallowed: a CRM or queue problem must never fail the user's save, and the reconcile pass
finds the change later anyway (the row's hash differs from the link's).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

log = logging.getLogger(__name__)

Listener = Callable[[int, str, int], None]
_listeners: list[Listener] = []


def register_listener(fn: Listener) -> Listener:
    """Add a listener `fn(loja_id, entity_type, entity_id)`; registering twice is a no-op.
    Returns `fn`, so it can be used as a decorator."""
    if fn not in _listeners:
        _listeners.append(fn)
    return fn


def unregister_listener(fn: Listener) -> None:
    if fn in _listeners:
        _listeners.remove(fn)


def listeners() -> tuple[Listener, ...]:
    return tuple(_listeners)


def after_local_write(loja_id: int, entity_type: str, entity_id: int) -> None:
    """Tell every listener that a local row was created, updated or soft-deleted (committed)."""
    for fn in tuple(_listeners):
        try:
            fn(loja_id, entity_type, entity_id)
        except Exception:
            log.exception(
                "after_local_write listener %r failed for %s %s (loja %s)",
                getattr(fn, "__name__", fn),
                entity_type,
                entity_id,
                loja_id,
            )
