"""Fixtures of the runtime tests: a migrated database, a real queue (SQLite file or Redis),
the sandbox on a free port, the API on real HTTP, and short runtime periods so a whole
cycle (sweep, retry, lock expiry) happens in seconds.

Redis tests skip visibly when Redis is not running on a developer's machine; under CI
(CI=true) that is a failure.
"""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from db_templates import migrate
from support.live_app import started_servers
from support.rows import gestaoclick_store
from support.waiting import wait_for  # noqa: F401  (the runtime tests' wait, from here)

from crmsync.db.schema import upgrade
from crmsync.db.session import dispose_engines, session_scope
from crmsync.runtime.queue import reset_queue
from crmsync.settings import reset_settings_cache

REDIS_URL = os.environ.get("CRMSYNC_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

FAST = {
    "CRMSYNC_SCHEDULER_TICK_SECONDS": "0.3",
    "CRMSYNC_LOCAL_SWEEP_SECONDS": "1",
    "CRMSYNC_RETRY_BASE_SECONDS": "0.3",
    "CRMSYNC_RETRY_MAX_SECONDS": "2",
    "CRMSYNC_LOCK_TTL_SECONDS": "4",
    "CRMSYNC_PENDING_TTL_SECONDS": "4",
    "CRMSYNC_INBOX_RETRY_SECONDS": "2",
    "CRMSYNC_SHUTDOWN_TIMEOUT_SECONDS": "20",
    "CRMSYNC_BREAKER_FIRST_SECONDS": "1",
}


def redis_available() -> None:
    """Skip (or fail under CI) when the Redis server is unreachable."""
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except Exception as exc:
        reason = f"Redis unreachable at {REDIS_URL}: {type(exc).__name__}"
        if IN_CI:
            pytest.fail(reason + " (CI must run the Redis tests)")
        pytest.skip(reason)


@dataclass
class Env:
    data_dir: Path
    database_url: str
    queue_url: str
    vars: dict[str, str]

    def apply(self, monkeypatch: pytest.MonkeyPatch) -> None:
        for key, value in self.vars.items():
            monkeypatch.setenv(key, value)
        reset_settings_cache()
        dispose_engines()
        reset_queue()


def make_env(tmp_path: Path, database_url: str, queue_url: str | None = None, **extra: str) -> Env:
    queue = queue_url or f"sqlite:///{(tmp_path / 'queue.db').as_posix()}"
    env = {
        "CRMSYNC_DATA_DIR": str(tmp_path),
        "CRMSYNC_DATABASE_URL": database_url,
        "CRMSYNC_QUEUE_URL": queue,
        "CRMSYNC_SECRET_KEY": "xJ7Ob0rNwrZ0Vq3r9mOe2jvV6lE4hN8XcZ1pQ5sT7uY=",
        "CRMSYNC_ADMIN_TOKEN": "admin-token-for-tests",
        "CRMSYNC_LOG_LEVEL": "WARNING",
        **FAST,
        **extra,
    }
    if queue.startswith("redis://"):
        env.setdefault("CRMSYNC_RATELIMIT_URL", queue.split("?", 1)[0])
    return Env(tmp_path, database_url, queue, env)


def use_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: str, queue_url: str | None = None, **extra: str
) -> Env:
    """`make_env`'s settings for this test, applied, on `database_url` migrated to head."""
    env = make_env(tmp_path, database_url, queue_url, **extra)
    env.apply(monkeypatch)
    upgrade(database_url)
    return env


@pytest.fixture
def rt_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sqlite_url: str) -> Iterator[Env]:
    """SQLite database + SQLite queue in a temporary directory, migrated, fast periods."""
    env = make_env(tmp_path, sqlite_url)
    env.apply(monkeypatch)
    migrate(sqlite_url)  # a copy of the migrated template (tests/db_templates.py)
    yield env
    reset_queue()
    dispose_engines()
    reset_settings_cache()


def redis_queue_url() -> str:
    return f"{REDIS_URL}?queue=t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def pg_redis_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_database: Callable[[str], str]
) -> Iterator[Callable[..., Env]]:
    """Factory: `use_env` (with its `extra` settings) on a fresh PostgreSQL database and the
    test Redis queue, flushed after the test (skipped without Redis, a failure under CI)."""
    redis_available()
    db_url, queue = fresh_database("postgresql"), redis_queue_url()
    yield lambda **extra: use_env(monkeypatch, tmp_path, db_url, queue, **extra)
    flush_redis_queue(queue)


def flush_redis_queue(queue_url: str) -> None:
    import redis

    from crmsync.runtime.state import split_queue_url

    clean, name = split_queue_url(queue_url)
    client = redis.Redis.from_url(clean)
    for pattern in (f"huey.*{name}*", f"crmsync:{name}:*"):
        for key in client.scan_iter(pattern):
            client.delete(key)
    client.close()


@dataclass
class Tenant:
    loja_id: int
    api_key: str
    integracao_id: int
    access_token: str
    secret_access_token: str
    webhook_token: str
    webhook_secret: str


def make_tenant(
    base_url: str,
    *,
    config: dict[str, Any] | None = None,
    nome: str = "Loja Teste",
    access_token: str | None = None,
    secret_access_token: str | None = None,
) -> Tenant:
    """A store and its GestãoClick integration pointing at `base_url`, with fresh credentials
    (a fresh company: its own rate limit and quota in the shared stores)."""
    access = access_token or "t-" + secrets.token_hex(8)
    secret = secret_access_token or "s-" + secrets.token_hex(12)
    with session_scope() as session:
        loja, key, integ = gestaoclick_store(session, nome, base_url, access, secret, config or {})
        return Tenant(loja.id, key, integ.id, access, secret, integ.webhook_token, integ.webhook_secret or "")


def insert_clientes(loja_id: int, people: list[tuple[str, str]]) -> list[int]:
    """cliente rows (nome, e-mail) written straight to the table, as the ERP's own program
    would, with no hook firing; answers their ids in order."""
    from crmsync.db.local import Cliente
    from crmsync.db.types import utcnow

    with session_scope() as s:
        now = utcnow()
        rows = [
            Cliente(id_loja=loja_id, nome=nome, email=email, tipo_pessoa="PF", cadastrado_em=now, modificado_em=now)
            for nome, email in people
        ]
        s.add_all(rows)
        s.flush()
        return [int(r.id) for r in rows]


def insert_cliente(loja_id: int, nome: str, email: str) -> int:
    return insert_clientes(loja_id, [(nome, email)])[0]


@pytest.fixture
def api_server() -> Iterator[Callable[[], Any]]:
    """Factory: start the real app on a free port (uvicorn thread); stopped at teardown."""
    from crmsync.cli.demo import _ApiServer

    yield from started_servers(_ApiServer)  # its socket bound on port 0: no free-port race
