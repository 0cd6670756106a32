"""Tunables of the runtime (worker, scheduler, retries), read from `CRMSYNC_*` variables.

Kept apart from `crmsync.settings` because only the runtime reads them; every default is
what production wants, and tests shorten the periods to see a whole cycle in seconds.
"""

from __future__ import annotations

import os
import threading

from pydantic_settings import BaseSettings, SettingsConfigDict


class RuntimeOptions(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CRMSYNC_", env_file=".env", extra="ignore")

    # How often the scheduler looks at every integration (seconds).
    scheduler_tick_seconds: float = 5.0
    # Cheap local pass for rows changed directly in the database (no provider request
    # unless a row really changed).
    local_sweep_seconds: float = 60.0
    # Failed items: first retry after this many seconds, doubling, at most `retry_max_attempts`
    # attempts before the item is parked as `falhou`.
    retry_base_seconds: float = 60.0
    retry_max_seconds: float = 3600.0
    retry_max_attempts: int = 8
    # Locks are renewed every ttl/3 by their holder; a crashed holder's lock frees after ttl.
    lock_ttl_seconds: float = 30.0
    # A "job already queued" marker expires after this, so a job lost in a crash is re-queued
    # by the next sweep.
    pending_ttl_seconds: float = 120.0
    # Webhook deliveries older (or newer) than this are refused as stale.
    webhook_tolerance_seconds: int = 300
    # Webhook inbox rows not processed after this many seconds are queued again.
    inbox_retry_seconds: float = 60.0
    # Circuit breaker: after a job finds the CRM unreachable (no answer, timeouts, 5xx), wait
    # this long before one probe job (doubling per failed probe, up to `breaker_max_seconds`).
    breaker_first_seconds: float = 60.0
    breaker_max_seconds: float = 1800.0
    # After the CRM refuses the credentials (401/403): waiting does not fix that, so the
    # breaker stays open this long (or until the integration's address or tokens change).
    breaker_auth_seconds: float = 3600.0
    # A probe job that died without reporting frees the probe slot after this long.
    breaker_probe_ttl_seconds: float = 300.0
    # Inside a job, a request that timed out is sent at most this many times (0: the
    # transport's usual retries): a hung CRM then holds a shared worker for one timeout, not
    # for five; the breaker and the failed-items ledger take it from there.
    job_timeout_attempts: int = 1
    # Integrations that poll newest-first (`ordenar_por_modificacao`) stop reading at the
    # watermark, so a record deleted in the CRM is never noticed; the scheduler also queues
    # a full scan (`pull(full=True)`, which infers remote deletes) this often per entity.
    full_scan_seconds: float = 86400.0
    # Fair sharing (crmsync.runtime.fairness): a job whose integration is busy goes back
    # through the queue after about this many seconds (jittered).
    fair_retry_seconds: float = 1.0
    # A job that failed after more than this many seconds puts its integration on a
    # cool-down of `elapsed * fair_cooldown_factor` before its next turn.
    fair_free_seconds: float = 5.0
    fair_cooldown_factor: float = 1.0
    # Manual runs that wait for their result (API `?esperar=true`, CLI) wait this long for
    # the integration's turn before answering "busy, try again" (503 / exit 1).
    manual_turn_wait_seconds: float = 60.0
    # Worker threads of the embedded runtime (`crmsync serve`).
    embedded_workers: int = 2
    # Seconds a graceful stop waits for running jobs before giving up on them.
    shutdown_timeout_seconds: float = 30.0


_parsed: tuple[tuple[str, tuple[tuple[str, str], ...]], RuntimeOptions] | None = None
_lock = threading.Lock()


def runtime_options() -> RuntimeOptions:
    """The options, parsed once per set of `CRMSYNC_*` variables (and working directory, for
    `.env`): every job asks, and parsing them each time was ~6% of a busy `serve` process's
    CPU. A test (or anything) that changes a variable gets the new value on the next call."""
    global _parsed
    key = (os.getcwd(), tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("CRMSYNC_"))))
    parsed = _parsed
    if parsed is not None and parsed[0] == key:
        return parsed[1]
    with _lock:
        options = RuntimeOptions()
        _parsed = (key, options)
    return options
