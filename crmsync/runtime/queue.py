"""The task queue: Huey on the SQLite file by default, on Redis for scale-out.

The queue owns task registration: each job module declares its body with `@job("name")`,
and every Huey this builds (and every one already built) gets the same tasks, so
`crmsync serve` on a laptop and a fleet of `crmsync worker` processes run identical code.
Jobs import this module, never the other way round; a process that consumes the queue
imports `crmsync.runtime.jobs` first so every job is declared. The instance is built
lazily per queue URL (tests and the CLI change settings at run time).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from huey import Huey, PriorityRedisHuey, SqliteHuey

from crmsync.private_files import create_private
from crmsync.runtime.state import RuntimeState, open_state, split_queue_url
from crmsync.settings import Settings, get_settings

_lock = threading.Lock()
_hueys: dict[str, Huey] = {}
_states: dict[str, RuntimeState] = {}
_jobs: dict[str, Callable[..., Any]] = {}
_tasks: dict[int, dict[str, Any]] = {}  # id(huey) -> job name -> Huey task wrapper

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


def job(name: str) -> Callable[[F], F]:
    """Declare `fn` as the queue's task `name` (on every Huey, built or still to be built)."""

    def declare(fn: F) -> F:
        with _lock:
            _jobs[name] = fn
            for huey in _hueys.values():
                _register(huey, name, fn)
        return fn

    return declare


def _register(huey: Huey, name: str, fn: Callable[..., Any]) -> None:
    tasks = _tasks.setdefault(id(huey), {})
    if name not in tasks:
        tasks[name] = huey.task(name=name)(fn)


def register_tasks(huey: Huey) -> dict[str, Any]:
    """Register every declared job on `huey` (idempotent per instance)."""
    for name, fn in _jobs.items():
        _register(huey, name, fn)
    return _tasks[id(huey)]


def task(name: str, settings: Settings | None = None) -> Any:
    """The Huey task wrapper of job `name` on the current queue (KeyError: never declared)."""
    huey = get_huey(settings)
    return _tasks[id(huey)][name]


def make_huey(queue_url: str) -> Huey:
    """A Huey for `sqlite:///path` or `redis://host:port/db[?queue=name]`, tasks registered."""
    if queue_url.startswith(("redis://", "rediss://", "unix://")):
        from redis import ConnectionPool  # only a Redis queue needs the client (start-up time)

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
    _tasks[id(huey)] = {}  # fresh: an id may be reused after an earlier instance was dropped
    register_tasks(huey)
    return huey


def _one_per_queue(cache: dict[str, T], settings: Settings | None, make: Callable[[str], T]) -> T:
    """The process's one `make(url)` for the settings' queue URL, made at the first ask
    (under the lock: two threads never open two connections to one queue)."""
    url = (settings or get_settings()).resolved_queue_url()
    with _lock:
        found = cache.get(url)
        if found is None:
            found = cache[url] = make(url)
        return found


def get_huey(settings: Settings | None = None) -> Huey:
    return _one_per_queue(_hueys, settings, make_huey)


def get_state(settings: Settings | None = None) -> RuntimeState:
    return _one_per_queue(_states, settings, open_state)


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
        _tasks.clear()
