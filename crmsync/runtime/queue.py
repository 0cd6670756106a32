"""The task queue: Huey on the SQLite file by default, on Redis for scale-out.

The same task functions (`crmsync.jobs`) are registered on whichever Huey this builds, so
`crmsync serve` on a laptop and a fleet of `crmsync worker` processes run identical code.
The instance is built lazily per queue URL (tests and the CLI change settings at run time).
"""

from __future__ import annotations

import contextlib
import threading

from huey import Huey, PriorityRedisHuey, SqliteHuey

from crmsync.db.files import create_private
from crmsync.runtime.state import RuntimeState, open_state, split_queue_url
from crmsync.settings import Settings, get_settings

_lock = threading.Lock()
_hueys: dict[str, Huey] = {}
_states: dict[str, RuntimeState] = {}


def make_huey(queue_url: str) -> Huey:
    """A Huey for `sqlite:///path` or `redis://host:port/db[?queue=name]`, tasks registered."""
    if queue_url.startswith(("redis://", "rediss://", "unix://")):
        from redis import ConnectionPool

        clean, name = split_queue_url(queue_url)
        # Timeouts: an unreachable Redis must fail an enqueue quickly, never hang a caller.
        pool = ConnectionPool.from_url(clean, socket_connect_timeout=2, socket_timeout=10, health_check_interval=30)
        huey: Huey = PriorityRedisHuey(name=name, connection_pool=pool, results=False, blocking=True, read_timeout=1)
    elif queue_url.startswith("sqlite:///"):
        path = queue_url[len("sqlite:///") :]
        create_private(path)  # 0600, its parent made
        huey = SqliteHuey(name="crmsync", filename=path, results=False, timeout=30)
    else:
        raise ValueError(
            f"CRMSYNC_QUEUE_URL não suportada: {queue_url.split(':', 1)[0]}:// (use sqlite:/// ou redis://)"
        )
    from crmsync.jobs import register_tasks

    register_tasks(huey)
    return huey


def get_huey(settings: Settings | None = None) -> Huey:
    url = (settings or get_settings()).resolved_queue_url()
    with _lock:
        huey = _hueys.get(url)
        if huey is None:
            huey = _hueys[url] = make_huey(url)
        return huey


def get_state(settings: Settings | None = None) -> RuntimeState:
    url = (settings or get_settings()).resolved_queue_url()
    with _lock:
        state = _states.get(url)
        if state is None:
            state = _states[url] = open_state(url)
        return state


def reset_queue() -> None:
    """Forget cached queue and state connections (tests switch settings; workers fork)."""
    with _lock:
        for state in _states.values():
            with contextlib.suppress(Exception):
                state.close()
        _states.clear()
        for huey in _hueys.values():
            with contextlib.suppress(Exception):
                huey.storage.close()
        _hueys.clear()
