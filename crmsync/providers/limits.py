"""Rate-limit stores: what every process of one deployment shares about a company's budget
(the pacing token bucket, the daily quota counter, a shared pause after a `Retry-After`).

SQLite by default (a file every local process opens), Redis when the URL is `redis://` (workers
on several machines). The transport (`crmsync.providers.transport`) reads and spends them.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from typing import Any, Protocol

import structlog
from pyrate_limiter import Rate, StateBucket, StateStore, TokenBucket, WallClock
from pyrate_limiter.abstracts.algorithm import Decision, State, StateAlgorithm

from crmsync.private_files import create_private
from crmsync.sqlite_wal import enable_wal

log = structlog.get_logger("crmsync.providers.transport")


class SharedLimits(Protocol):
    """What every process of one deployment shares about a company's budget."""

    # False for a store that lives in one process's memory (``sqlite://``): another process
    # would pace and count on its own, so nothing may list from another process with it.
    shared_across_processes: bool

    def bucket(self, key: str, rate: Rate) -> StateBucket: ...

    def reserve_quota(self, key: str, day: str, budget: int, expires_at: float) -> int | None:
        """Count one request against `day`; None (and nothing counted) when over budget."""
        ...

    def quota_used(self, key: str, day: str) -> int: ...

    def pause(self, key: str, until: float) -> None: ...

    def paused_until(self, key: str) -> float: ...

    def close(self) -> None: ...


class SQLiteStateStore(StateStore):
    """pyrate-limiter state store in a SQLite table, for GCRA/TokenBucket.

    pyrate-limiter ships constant-state stores for memory, multiprocessing managers and
    Redis only; its SQLite bucket is a log bucket whose cross-process safety needs the
    optional `filelock`. SQLite's own `BEGIN IMMEDIATE` gives the atomic
    read-modify-write the `StateStore` contract asks for, across processes, with no extra
    dependency.
    """

    is_async = False
    default_clock = WallClock()  # epoch ms: comparable between processes on one host

    def __init__(self, conn: sqlite3.Connection, lock: threading.RLock, key: str) -> None:
        self._conn = conn
        self._lock = lock
        self.key = key

    def _load(self, algorithm: StateAlgorithm, rates: list[Rate]) -> State:
        row = self._conn.execute("SELECT state FROM crmsync_rate_state WHERE key = ?", (self.key,)).fetchone()
        if row is None or not row[0]:
            return algorithm.initial(rates)
        state = algorithm.decode(str(row[0]).split(","))
        return state if len(state) == len(rates) else algorithm.initial(rates)

    def check(self, algorithm: StateAlgorithm, rates: list[Rate], now: int, weight: int) -> Decision:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                new_state, decision = algorithm.step(rates, self._load(algorithm, rates), now, weight)
                if decision.allowed:
                    self._conn.execute(
                        "INSERT INTO crmsync_rate_state (key, state) VALUES (?, ?) "
                        "ON CONFLICT(key) DO UPDATE SET state = excluded.state",
                        (self.key, ",".join(str(int(v)) for v in new_state)),
                    )
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            return decision

    def read(self, algorithm: StateAlgorithm, rates: list[Rate]) -> State:
        with self._lock:
            return self._load(algorithm, rates)

    def reset(self) -> None:
        with self._lock:
            self._conn.execute("DELETE FROM crmsync_rate_state WHERE key = ?", (self.key,))


class SQLiteLimits:
    """Token-bucket state, daily counters and pauses in one SQLite file (WAL mode)."""

    def __init__(self, path: str) -> None:
        self.shared_across_processes = path != ":memory:"
        if self.shared_across_processes:
            create_private(path)  # 0600, its parent made
        # Autocommit mode: every read-modify-write opens its own BEGIN IMMEDIATE.
        self._conn = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
        self._lock = threading.RLock()
        with self._lock:
            enable_wal(self._conn)
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS crmsync_rate_state (key TEXT PRIMARY KEY, state TEXT NOT NULL)"
            )
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS crmsync_quota (key TEXT NOT NULL, day TEXT NOT NULL, "
                "used INTEGER NOT NULL, PRIMARY KEY (key, day))"
            )
            self._conn.execute("CREATE TABLE IF NOT EXISTS crmsync_pause (key TEXT PRIMARY KEY, until REAL NOT NULL)")

    def bucket(self, key: str, rate: Rate) -> StateBucket:
        store = SQLiteStateStore(self._conn, self._lock, key)
        return StateBucket([rate], algorithm=TokenBucket(), store=store, clock=WallClock())

    def reserve_quota(self, key: str, day: str, budget: int, expires_at: float) -> int | None:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                row = self._conn.execute(
                    "SELECT used FROM crmsync_quota WHERE key = ? AND day = ?", (key, day)
                ).fetchone()
                used = int(row[0]) if row else 0
                if used + 1 > budget:
                    self._conn.execute("ROLLBACK")
                    return None
                if row is None:
                    # A new day: forget the old ones of this company.
                    self._conn.execute("DELETE FROM crmsync_quota WHERE key = ? AND day < ?", (key, day))
                self._conn.execute(
                    "INSERT INTO crmsync_quota (key, day, used) VALUES (?, ?, 1) "
                    "ON CONFLICT(key, day) DO UPDATE SET used = used + 1",
                    (key, day),
                )
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            return used + 1

    def quota_used(self, key: str, day: str) -> int:
        with self._lock:
            row = self._conn.execute("SELECT used FROM crmsync_quota WHERE key = ? AND day = ?", (key, day)).fetchone()
        return int(row[0]) if row else 0

    def pause(self, key: str, until: float) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT INTO crmsync_pause (key, until) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET until = max(until, excluded.until)",
                (key, until),
            )

    def paused_until(self, key: str) -> float:
        with self._lock:
            row = self._conn.execute("SELECT until FROM crmsync_pause WHERE key = ?", (key,)).fetchone()
        return float(row[0]) if row else 0.0

    def close(self) -> None:
        with self._lock:
            self._conn.close()


_RESERVE_LUA = """
local used = redis.call('INCR', KEYS[1])
if used > tonumber(ARGV[1]) then
    redis.call('DECR', KEYS[1])
    return -1
end
redis.call('EXPIREAT', KEYS[1], ARGV[2])
return used
"""


class RedisLimits:
    """Same as `SQLiteLimits` in Redis, for workers on several machines.

    The token bucket is pyrate-limiter's own `RedisStateStore` (atomic Lua); the daily
    counter expires at the provider's local midnight.
    """

    shared_across_processes = True

    def __init__(self, url: str) -> None:
        self._redis = _redis_client(url)
        self._reserve = self._redis.register_script(_RESERVE_LUA)

    def bucket(self, key: str, rate: Rate) -> StateBucket:
        from pyrate_limiter import RedisStateStore  # imports redis: only for a Redis URL (start-up time)

        store = RedisStateStore(self._redis, f"crmsync:rate:{key}")
        return StateBucket([rate], algorithm=TokenBucket(), store=store, clock=WallClock())

    def reserve_quota(self, key: str, day: str, budget: int, expires_at: float) -> int | None:
        used = int(self._reserve(keys=[f"crmsync:quota:{key}:{day}"], args=[budget, int(expires_at) + 3600]))
        return None if used < 0 else used

    def quota_used(self, key: str, day: str) -> int:
        value = self._redis.get(f"crmsync:quota:{key}:{day}")
        return int(value) if value else 0

    def pause(self, key: str, until: float) -> None:
        ms = int(max(0.0, until - time.time()) * 1000) + 1
        current = self.paused_until(key)
        if until > current:
            self._redis.set(f"crmsync:pause:{key}", repr(until), px=ms)

    def paused_until(self, key: str) -> float:
        value = self._redis.get(f"crmsync:pause:{key}")
        return float(value) if value else 0.0

    def close(self) -> None:
        """Nothing to close: the client (and its connections) is the process's, shared by
        every transport (see :func:`_redis_client`)."""


_REDIS_CLIENTS: dict[str, Any] = {}
_REDIS_LOCK = threading.Lock()


def _redis_client(url: str) -> Any:
    """The process's one Redis client for ``url``. A transport is opened per job, and a
    client of its own made it connect (and disconnect) to Redis once per job; redis-py's
    pool is thread-safe and starts afresh in a forked child."""
    with _REDIS_LOCK:
        client = _REDIS_CLIENTS.get(url)
        if client is None:
            import redis  # only a Redis URL needs the client (start-up time)

            client = _REDIS_CLIENTS[url] = redis.Redis.from_url(url)
        return client


def open_shared_limits(url: str) -> SharedLimits:
    """SQLite file for `sqlite:///path` (the default), Redis for `redis://`/`rediss://`."""
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisLimits(url)
    if url.startswith("sqlite:///"):
        return SQLiteLimits(url[len("sqlite:///") :] or ":memory:")
    if url.startswith("sqlite://"):
        return SQLiteLimits(":memory:")
    raise ValueError(f"URL do limitador de requisições não suportada: {url.split(':', 1)[0]}://...")


__all__ = ["RedisLimits", "SQLiteLimits", "SQLiteStateStore", "SharedLimits", "open_shared_limits"]
