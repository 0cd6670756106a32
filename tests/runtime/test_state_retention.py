"""Values with a lifetime in the runtime state (the manual jobs' records): gone after it, on
the SQLite state file and on Redis, so a busy API never grows the queue's state unbounded."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from crmsync.runtime.job_records import new_record, read_record, update_record
from crmsync.runtime.state import RuntimeState, open_state
from crmsync.settings import reset_settings_cache
from runtime.conftest import flush_redis_queue, redis_available, redis_queue_url, wait_for


@pytest.fixture(params=["sqlite", "redis"])
def state(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RuntimeState]:
    if request.param == "sqlite":
        st = open_state(f"sqlite:///{tmp_path / 'queue.db'}")
        yield st
        st.close()
        return
    request.applymarker(pytest.mark.redis)
    redis_available()
    url = redis_queue_url()
    st = open_state(url)
    try:
        yield st
    finally:
        st.close()
        flush_redis_queue(url)


def test_a_value_with_a_lifetime_expires_and_one_without_stays(state: RuntimeState) -> None:
    state.set_json("short", {"a": 1}, ttl=0.3)
    state.set_json("forever", {"b": 2})
    assert state.get_json("short") == {"a": 1}
    wait_for(lambda: state.get_json("short") is None, timeout=60, what="short value expired")
    state.set_json("next", 1, ttl=60)  # the SQLite store sweeps expired rows on such a write
    assert state.get_json("forever") == {"b": 2} and state.get_json("next") == 1


def test_job_records_expire_after_the_retention(state: RuntimeState, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRMSYNC_JOB_RECORD_RETENTION_HOURS", str(0.4 / 3600))  # 0.4 s
    reset_settings_cache()
    try:
        job_id = new_record(state, 1, 1, "pull", {"entity": "cliente"})
        assert read_record(state, job_id) is not None
        assert update_record(state, job_id, status="concluido") is not None
        wait_for(lambda: read_record(state, job_id) is None, timeout=60, what="job record expired")
    finally:
        reset_settings_cache()


def test_a_queue_file_of_an_older_version_gains_the_lifetime_column(tmp_path: Path) -> None:
    path = tmp_path / "old-queue.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE crmsync_kv (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    conn.execute("INSERT INTO crmsync_kv VALUES ('crmsync:kept', '42')")
    conn.commit()
    conn.close()
    st = open_state(f"sqlite:///{path}")
    try:
        assert st.get_json("kept") == 42
        st.set_json("short", 1, ttl=60)
        assert st.get_json("short") == 1
    finally:
        st.close()
