"""Putting jobs on the queue: by name, coalesced, never raising.

A "queued" marker per record/entity (`pending:...` in the runtime state) makes ten saves of
one row before its job starts queue one job; the job clears the marker only once it holds
its lock, so a save made while it runs queues a new one. The marker expires, so a job lost
in a crash is queued again by the next sweep. Jobs are named, not imported: the queue
resolves the name to the task its job module declared (`crmsync.runtime.queue.job`).
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from crmsync.runtime.options import runtime_options
from crmsync.runtime.queue import get_state, task
from crmsync.runtime.state import RuntimeState

log = logging.getLogger("crmsync.jobs")

# Queue priorities: what a person is waiting for first, bulk scans last.
PRIORITY_PUSH = 20
PRIORITY_WEBHOOK = 15
PRIORITY_RETRY = 10
PRIORITY_RECONCILE = 5
PRIORITY_PULL = 0


def pending_key(kind: str, *parts: object) -> str:
    """The "queued" marker of one job (kind + its arguments)."""
    return "pending:" + kind + ":" + ":".join(str(p) for p in parts)


def _enqueue(marker: str | None, name: str, args: tuple[Any, ...], priority: int, delay: float | None = None) -> bool:
    """Queue a task unless the same one is already waiting; never raises."""
    state: RuntimeState | None = None
    try:
        state = get_state()
        if marker is not None and not state.set_if_absent(marker, "1", runtime_options().pending_ttl_seconds):
            return False
        wrapper = task(name)
        wrapper.huey.enqueue(wrapper.s(*args, priority=priority, delay=delay))
        return True
    except Exception:
        log.warning(
            "fila indisponível: %s%r não enfileirado (a reconciliação periódica retoma)",
            name,
            args,
            exc_info=True,
        )
        if state is not None and marker is not None:
            with contextlib.suppress(Exception):
                state.delete(marker)
        return False


def enqueue_push(
    integracao_id: int,
    entity_type: str,
    entity_id: int,
    trigger: str = "automatico",
    priority: int = PRIORITY_PUSH,
) -> bool:
    return _enqueue(
        pending_key("push", integracao_id, entity_type, entity_id),
        "push_record",
        (integracao_id, entity_type, int(entity_id), trigger),
        priority,
    )


def enqueue_pull(integracao_id: int, entity_type: str, full: bool = False, trigger: str = "cron") -> bool:
    return _enqueue(
        pending_key("pull", integracao_id, entity_type),
        "pull_entity",
        (integracao_id, entity_type, full, trigger),
        PRIORITY_PULL,
    )


def enqueue_pull_record(integracao_id: int, entity_type: str, external_id: str, trigger: str = "webhook") -> bool:
    return _enqueue(
        pending_key("pullone", integracao_id, entity_type, external_id),
        "pull_record",
        (integracao_id, entity_type, str(external_id), trigger),
        PRIORITY_WEBHOOK,
    )


def enqueue_webhook(inbox_id: int) -> bool:
    return _enqueue(pending_key("webhook", inbox_id), "process_webhook", (int(inbox_id),), PRIORITY_WEBHOOK)


def enqueue_reconcile(integracao_id: int, remote: bool = True, trigger: str = "cron") -> bool:
    return _enqueue(
        pending_key("reconcile", integracao_id, bool(remote)),
        "reconcile",
        (integracao_id, bool(remote), trigger),
        PRIORITY_RECONCILE,
    )


def enqueue_retry(integracao_id: int | None = None) -> bool:
    return _enqueue(None, "retry_failed_task", (integracao_id,), PRIORITY_RETRY)


def enqueue_manual(job_id: str) -> bool:
    """A manual run (its parameters are in its job record, `crmsync.runtime.job_records`)."""
    return _enqueue(None, "manual_run", (job_id,), PRIORITY_PUSH)
