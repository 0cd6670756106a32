"""Shared runtime state beside the queue: expiring locks, small JSON values and counters.

Why not Huey's own `lock_task`: its SQLite storage has no expiry, so a worker killed with
SIGKILL while holding a lock would block that record forever (or until someone flushes every
lock, which is unsafe while other workers are alive). Here every lock carries an owner token
and an expiry; a live holder renews it (see `crmsync.runtime.locks`), a dead holder's lock
simply runs out. The state lives where the queue lives, so a deployment has exactly the
moving parts it already chose: the SQLite queue file by default, the Redis server when
`CRMSYNC_QUEUE_URL=redis://...`.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
import uuid
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from crmsync.private_files import create_private
from crmsync.sqlite_wal import enable_wal


class RuntimeState(Protocol):
    """What the jobs, the scheduler and `/metrics` need from the shared store."""

    namespace: str

    def acquire(self, key: str, token: str, ttl: float) -> bool: ...

    def renew(self, key: str, token: str, ttl: float) -> bool: ...

    def release(self, key: str, token: str) -> None: ...

    def is_locked(self, key: str) -> bool: ...

    def set_if_absent(self, key: str, value: str, ttl: float) -> bool: ...

    def delete(self, key: str) -> None: ...

    def get_json(self, key: str) -> Any: ...

    def set_json(self, key: str, value: Any, ttl: float | None = None) -> None:
        """Store a JSON value; with `ttl` (seconds) it is gone that long after this write."""
        ...

    def incr(self, key: str, amount: int = 1) -> None: ...

    def counters(self, prefix: str) -> dict[str, int]: ...

    def close(self) -> None: ...


def split_queue_url(url: str) -> tuple[str, str]:
    """`redis://host:6379/0?queue=name` -> (url without our parameter, queue name).

    The `queue` parameter lets several deployments (or test runs) share one Redis server;
    redis-py refuses unknown URL parameters, so it is removed before the URL reaches it.
    """
    parts = urlsplit(url)
    params = parse_qsl(parts.query, keep_blank_values=True)
    name = "crmsync"
    kept = []
    for key, value in params:
        if key == "queue" and value:
            name = value
        else:
            kept.append((key, value))
    clean = urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(kept), ""))
    return clean, name


class SqliteState:
    """Tables `crmsync_locks`, `crmsync_kv` and `crmsync_counters` in the queue's SQLite file."""

    def __init__(self, path: str, namespace: str = "crmsync") -> None:
        self.namespace = namespace
        self.path = path
        self._local = threading.local()
        create_private(path)  # the queue's file, 0600 (the queue may not have made it yet)
        conn = self._conn()
        conn.executescript(
            "CREATE TABLE IF NOT EXISTS crmsync_locks (key TEXT PRIMARY KEY, token TEXT NOT NULL, "
            "expires REAL NOT NULL);"
            "CREATE TABLE IF NOT EXISTS crmsync_kv (key TEXT PRIMARY KEY, value TEXT NOT NULL, expires REAL);"
            "CREATE TABLE IF NOT EXISTS crmsync_counters (key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
        )
        if "expires" not in {row[1] for row in conn.execute("PRAGMA table_info(crmsync_kv)")}:
            with contextlib.suppress(sqlite3.OperationalError):  # another process added it just now
                conn.execute("ALTER TABLE crmsync_kv ADD COLUMN expires REAL")  # a queue file of 0.x

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            enable_wal(conn)
            conn.execute("PRAGMA busy_timeout=30000")
            self._local.conn = conn
        return conn

    def _k(self, key: str) -> str:
        return f"{self.namespace}:{key}"

    def acquire(self, key: str, token: str, ttl: float) -> bool:
        now = time.time()
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            row = conn.execute("SELECT token, expires FROM crmsync_locks WHERE key = ?", (self._k(key),)).fetchone()
            if row is not None and row[1] > now and row[0] != token:
                conn.execute("COMMIT")
                return False
            conn.execute(
                "INSERT OR REPLACE INTO crmsync_locks (key, token, expires) VALUES (?, ?, ?)",
                (self._k(key), token, now + ttl),
            )
            conn.execute("COMMIT")
            return True
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def renew(self, key: str, token: str, ttl: float) -> bool:
        cur = self._conn().execute(
            "UPDATE crmsync_locks SET expires = ? WHERE key = ? AND token = ?",
            (time.time() + ttl, self._k(key), token),
        )
        return cur.rowcount == 1

    def release(self, key: str, token: str) -> None:
        self._conn().execute("DELETE FROM crmsync_locks WHERE key = ? AND token = ?", (self._k(key), token))

    def is_locked(self, key: str) -> bool:
        row = self._conn().execute("SELECT expires FROM crmsync_locks WHERE key = ?", (self._k(key),)).fetchone()
        return row is not None and row[0] > time.time()

    def set_if_absent(self, key: str, value: str, ttl: float) -> bool:
        return self.acquire(key, f"{value}:{uuid.uuid4().hex}", ttl)

    def delete(self, key: str) -> None:
        self._conn().execute("DELETE FROM crmsync_locks WHERE key = ?", (self._k(key),))

    def get_json(self, key: str) -> Any:
        row = (
            self._conn()
            .execute(
                "SELECT value FROM crmsync_kv WHERE key = ? AND (expires IS NULL OR expires > ?)",
                (self._k(key), time.time()),
            )
            .fetchone()
        )
        return None if row is None else json.loads(row[0])

    def set_json(self, key: str, value: Any, ttl: float | None = None) -> None:
        now = time.time()
        conn = self._conn()
        conn.execute(
            "INSERT OR REPLACE INTO crmsync_kv (key, value, expires) VALUES (?, ?, ?)",
            (self._k(key), json.dumps(value, default=str), None if ttl is None else now + ttl),
        )
        if ttl is not None:  # values with a lifetime are few (job records): sweep them here
            conn.execute("DELETE FROM crmsync_kv WHERE expires IS NOT NULL AND expires <= ?", (now,))

    def incr(self, key: str, amount: int = 1) -> None:
        self._conn().execute(
            "INSERT INTO crmsync_counters (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = value + excluded.value",
            (self._k(key), amount),
        )

    def counters(self, prefix: str) -> dict[str, int]:
        full = self._k(prefix)
        rows = (
            self._conn()
            .execute("SELECT key, value FROM crmsync_counters WHERE key >= ? AND key < ?", (full, full + "\uffff"))
            .fetchall()
        )
        cut = len(self.namespace) + 1
        return {str(k)[cut:]: int(v) for k, v in rows}

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


_RELEASE_LUA = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"
_RENEW_LUA = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end"
)


class RedisState:
    """The same on Redis: `SET NX PX` locks with compare-and-delete, a hash of counters."""

    def __init__(self, url: str, namespace: str = "crmsync") -> None:
        import redis  # only a Redis URL needs the client (start-up time)

        self.namespace = namespace
        self._redis = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5, decode_responses=True)
        self._release = self._redis.register_script(_RELEASE_LUA)
        self._renew = self._redis.register_script(_RENEW_LUA)

    def _k(self, key: str) -> str:
        return f"crmsync:{self.namespace}:{key}"

    def acquire(self, key: str, token: str, ttl: float) -> bool:
        k = self._k(key)
        if self._redis.set(k, token, nx=True, px=max(1, int(ttl * 1000))):
            return True
        return bool(self._renew(keys=[k], args=[token, max(1, int(ttl * 1000))]))

    def renew(self, key: str, token: str, ttl: float) -> bool:
        return bool(self._renew(keys=[self._k(key)], args=[token, max(1, int(ttl * 1000))]))

    def release(self, key: str, token: str) -> None:
        self._release(keys=[self._k(key)], args=[token])

    def is_locked(self, key: str) -> bool:
        return bool(self._redis.exists(self._k(key)))

    def set_if_absent(self, key: str, value: str, ttl: float) -> bool:
        return bool(self._redis.set(self._k(key), value, nx=True, px=max(1, int(ttl * 1000))))

    def delete(self, key: str) -> None:
        self._redis.delete(self._k(key))

    def get_json(self, key: str) -> Any:
        raw = self._redis.get(self._k("kv:" + key))
        return None if raw is None else json.loads(str(raw))

    def set_json(self, key: str, value: Any, ttl: float | None = None) -> None:
        expires = None if ttl is None else max(1, int(ttl * 1000))
        self._redis.set(self._k("kv:" + key), json.dumps(value, default=str), px=expires)

    def incr(self, key: str, amount: int = 1) -> None:
        self._redis.hincrby(self._k("counters"), key, amount)

    def counters(self, prefix: str) -> dict[str, int]:
        raw: dict[str, str] = self._redis.hgetall(self._k("counters"))
        return {k: int(v) for k, v in raw.items() if k.startswith(prefix)}

    def close(self) -> None:
        self._redis.close()


def open_state(queue_url: str) -> RuntimeState:
    """The state store matching a queue URL (`sqlite:///file` or `redis://...`)."""
    if queue_url.startswith(("redis://", "rediss://", "unix://")):
        clean, name = split_queue_url(queue_url)
        return RedisState(clean, namespace=name)
    if queue_url.startswith("sqlite:///"):
        return SqliteState(queue_url[len("sqlite:///") :])
    raise ValueError(f"CRMSYNC_QUEUE_URL não suportada: {queue_url.split(':', 1)[0]}:// (use sqlite:/// ou redis://)")
