"""The queue owns task registration: every declared job is a task on every Huey the queue
builds, whether the Huey was built before or after the job was declared. (That the queue
imports no job, so there is no cycle, is an import-linter contract in pyproject.toml.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from crmsync.runtime import queue
from crmsync.runtime.jobs import __all__ as jobs_api  # declaring every job is importing this
from crmsync.settings import reset_settings_cache

JOB_NAMES = {
    "push_record",
    "pull_entity",
    "pull_record",
    "process_webhook",
    "reconcile",
    "retry_failed_task",
    "manual_run",
}


def test_every_job_is_a_task_of_a_new_huey(tmp_path: Path) -> None:
    assert "push_record" in jobs_api
    huey = queue.make_huey(f"sqlite:///{tmp_path / 'queue.db'}")
    try:
        assert set(queue.register_tasks(huey)) == JOB_NAMES
        assert all(wrapper.huey is huey for wrapper in queue.register_tasks(huey).values())
    finally:
        huey.storage.close()


def test_a_job_declared_later_reaches_a_huey_already_built(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'queue.db'}"
    monkeypatch.setenv("CRMSYNC_QUEUE_URL", url)
    reset_settings_cache()
    queue.reset_queue()
    monkeypatch.setattr(queue, "_jobs", dict(queue._jobs))  # keep the declared jobs as they were after the test
    try:
        queue.get_huey()

        @queue.job("late_job_for_test")
        def late(x: int) -> int:
            return x + 1

        assert queue.task("late_job_for_test").name == "late_job_for_test"
        assert queue.task("push_record").name == "push_record"
    finally:
        queue.reset_queue()
        reset_settings_cache()
