"""Expiring, renewed locks so one record (or one pull) is worked on by one job at a time.

A holder renews its lock from a small heartbeat thread every third of the TTL, so a long
pull keeps it; a holder killed with SIGKILL stops renewing and the lock runs out after
`ttl` seconds, after which any worker may take it. Renewal failing (the lock was lost,
e.g. the process was frozen longer than the TTL) is logged: the work is idempotent, so the
worst case is the same record worked twice, never a lost change.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from crmsync.runtime.state import RuntimeState

log = logging.getLogger(__name__)

DEFAULT_TTL = 30.0


class LockBusy(Exception):
    """Another job holds the lock; the caller retries later or drops redundant work."""

    def __init__(self, key: str) -> None:
        super().__init__(f"lock ocupado: {key}")
        self.key = key


class _Heartbeat(threading.Thread):
    def __init__(self, state: RuntimeState, keys: Sequence[str], token: str, ttl: float) -> None:
        super().__init__(name="crmsync-lock-heartbeat", daemon=True)
        self.state, self.keys, self.token, self.ttl = state, list(keys), token, ttl
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.ttl / 3.0):
            for key in self.keys:
                try:
                    if not self.state.renew(key, self.token, self.ttl):
                        log.warning("lock %s perdido durante a execução (expirou)", key)
                except Exception:  # the store is down for a moment: try again next beat
                    log.warning("falha ao renovar lock %s", key, exc_info=True)


@contextmanager
def hold(state: RuntimeState, keys: Sequence[str], ttl: float = DEFAULT_TTL, wait: float = 0.0) -> Iterator[str]:
    """Take every key (in sorted order, so two jobs never deadlock) or raise `LockBusy`.

    `wait`: keep trying for that many seconds first (a short job ahead of us usually ends
    sooner than a trip back through the queue)."""
    token = uuid.uuid4().hex
    ordered = sorted(set(keys))
    taken: list[str] = []
    deadline = time.monotonic() + wait
    try:
        for key in ordered:
            while not state.acquire(key, token, ttl):
                if time.monotonic() >= deadline:
                    raise LockBusy(key)
                time.sleep(0.05)
            taken.append(key)
        beat = _Heartbeat(state, ordered, token, ttl)
        beat.start()
        try:
            yield token
        finally:
            beat.stopped.set()
    finally:
        for key in reversed(taken):
            try:
                state.release(key, token)
            except Exception:
                log.warning("falha ao liberar lock %s (vai expirar sozinho)", key, exc_info=True)


def record_key(loja_id: int, provider: str, entity_type: str, ident: str) -> str:
    """`ident` is `local:<id>` or `ext:<id>`; one record has one key per side."""
    return f"lock:rec:{loja_id}:{provider}:{entity_type}:{ident}"


def pull_key(integracao_id: int, entity_type: str) -> str:
    return f"lock:pull:{integracao_id}:{entity_type}"
