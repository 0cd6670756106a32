"""Issue #20, scale-out: `crmsync serve --workers 3` on PostgreSQL + Redis takes the same burst
(300 simultaneous requests with valid keys) with only 200s and quick 503s."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from .server import serve
from .test_burst import _burst

REDIS_URL = os.environ.get("CRMSYNC_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def redis_queue() -> Iterator[str]:
    redis = pytest.importorskip("redis")
    name = f"t{uuid.uuid4().hex[:10]}"
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except Exception as exc:  # the server is not there
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"redis unreachable: {exc}")
        pytest.skip(f"redis unreachable: {exc}")
    yield f"{REDIS_URL}?queue={name}"
    for pattern in (f"huey.*{name}*", f"crmsync:{name}:*"):
        for key in client.scan_iter(pattern):
            client.delete(key)
    client.close()


def test_several_serve_processes_on_postgresql_take_a_burst(
    tmp_path: Path, fresh_database: object, redis_queue: str
) -> None:
    pg_url = fresh_database("postgresql")  # type: ignore[operator]
    env = {
        "CRMSYNC_DATABASE_URL": pg_url,
        "CRMSYNC_QUEUE_URL": redis_queue,
        "CRMSYNC_API_CONCURRENCY": "12",  # 3 processes x (12 + 10): within a shared server's 100
    }
    with serve(tmp_path, stores=4, env=env, args=["--workers", "3", "--no-worker"]) as served:
        statuses, failures, refused = _burst(served.base, served.keys, 300)
    assert failures == []
    assert set(statuses) <= {200, 503}, statuses
    assert statuses[200] > 0
    for r in refused:
        assert r.headers.get("Retry-After", "").isdigit()
    assert served.log.read_text().count("Started server process") >= 3
