"""What counts as "the database is busy" (answered 503 with Retry-After, never 500), read
from real lock conflicts on each database: SQLite's "database is locked", PostgreSQL's lock
timeout, MariaDB's lock wait timeout."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from crmsync.db.health import is_busy, is_out_of_range

SETUP = "CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER)"


def _conflict(url: str) -> DBAPIError:
    """Hold a row's lock in one connection and have another wait for it, briefly."""
    kind = url.split(":", 1)[0]
    args = {"connect_args": {"timeout": 0.1}} if kind == "sqlite" else {}
    engine = create_engine(url, **args)
    try:
        with engine.begin() as conn:
            conn.execute(text(SETUP))
            conn.execute(text("INSERT INTO t (id, v) VALUES (1, 0)"))
        holder = engine.connect()
        waiter = engine.connect()
        try:
            if kind == "sqlite":
                holder.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                holder.begin()
                holder.execute(text("UPDATE t SET v = 1 WHERE id = 1"))
                waiter.begin()
                if kind.startswith("postgresql"):
                    waiter.execute(text("SET LOCAL lock_timeout = '200ms'"))
                else:
                    waiter.execute(text("SET SESSION innodb_lock_wait_timeout = 1"))
            with pytest.raises(DBAPIError) as info:
                waiter.execute(text("UPDATE t SET v = 2 WHERE id = 1"))
            return info.value
        finally:
            waiter.close()
            holder.close()
    finally:
        engine.dispose()


def test_lock_conflicts_are_busy(db_url: str) -> None:
    error = _conflict(db_url)
    assert is_busy(error), repr(error.orig)
    assert not is_out_of_range(error)


def test_other_errors_are_not_busy(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn, pytest.raises(DBAPIError) as info:
            conn.execute(text("SELECT * FROM no_such_table"))
        assert not is_busy(info.value)
    finally:
        engine.dispose()
