"""The task-queue jobs, one module per job, all run inside the one wrapper of `base`.

Importing this package declares every job on the queue (`crmsync.runtime.queue.job`), so a
process that enqueues or consumes imports it (the runtime package does, on import). The
enqueue functions are re-exported here: callers above the runtime use this package only.

- `push`: push one local row.            - `pull`: pull an entity; pull one record.
- `webhooks`: apply a stored delivery.    - `reconcile`: find dirty rows and queue them.
- `retry`: queue failed items that are due.   - `manual`: a manual run asked for by API/console.
"""

from crmsync.runtime.enqueue import (
    PRIORITY_PULL,
    PRIORITY_PUSH,
    PRIORITY_RECONCILE,
    PRIORITY_RETRY,
    PRIORITY_WEBHOOK,
    enqueue_manual,
    enqueue_pull,
    enqueue_pull_record,
    enqueue_push,
    enqueue_reconcile,
    enqueue_retry,
    enqueue_webhook,
)
from crmsync.runtime.jobs.base import JobRun
from crmsync.runtime.jobs.manual import manual_run
from crmsync.runtime.jobs.pull import pull_entity, pull_record
from crmsync.runtime.jobs.push import push_record
from crmsync.runtime.jobs.reconcile import dirty_local_ids, reconcile
from crmsync.runtime.jobs.retry import retry_failed, retry_failed_task
from crmsync.runtime.jobs.webhooks import process_webhook, webhook_target

__all__ = [
    "PRIORITY_PULL",
    "PRIORITY_PUSH",
    "PRIORITY_RECONCILE",
    "PRIORITY_RETRY",
    "PRIORITY_WEBHOOK",
    "JobRun",
    "dirty_local_ids",
    "enqueue_manual",
    "enqueue_pull",
    "enqueue_pull_record",
    "enqueue_push",
    "enqueue_reconcile",
    "enqueue_retry",
    "enqueue_webhook",
    "manual_run",
    "process_webhook",
    "pull_entity",
    "pull_record",
    "push_record",
    "reconcile",
    "retry_failed",
    "retry_failed_task",
    "webhook_target",
]
