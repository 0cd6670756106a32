"""What the scale-out benchmarks (`api_load.py`, `worker_push.py`) set up and take down: a
fresh PostgreSQL database, a Redis queue of their own, and the `CRMSYNC_*` variables that
point a crmsync process (this one and the ones it starts) at them."""

from __future__ import annotations

import os
import uuid

PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
REDIS_URL = "redis://127.0.0.1:6379/0"


def postgres_and_redis(prefix: str) -> tuple[dict[str, str], str]:
    """A new database `<prefix>_<hex>` and the variables for it and a new Redis queue."""
    from sqlalchemy import create_engine, text

    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    env = {
        "CRMSYNC_DATABASE_URL": PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name,
        "CRMSYNC_QUEUE_URL": f"{REDIS_URL}?queue={prefix.replace('_', '')}{uuid.uuid4().hex[:8]}",
        "CRMSYNC_RATELIMIT_URL": REDIS_URL,
    }
    return env, name


def take_down(pg_name: str | None) -> None:
    """Drop the database and the queue's Redis keys (`CRMSYNC_QUEUE_URL` of this process)."""
    if pg_name is not None:
        from sqlalchemy import create_engine, text

        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)'))
        admin.dispose()
    queue = os.environ.get("CRMSYNC_QUEUE_URL", "")
    if "?queue=" in queue:
        import redis

        name = queue.split("?queue=", 1)[1]
        client = redis.Redis.from_url(REDIS_URL)
        for pattern in (f"huey.*{name}*", f"crmsync:{name}:*"):
            for k in client.scan_iter(pattern):
                client.delete(k)
        client.close()
