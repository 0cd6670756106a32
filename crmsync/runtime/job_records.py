"""What a manual run queued as a job looks like from outside: its record in the runtime state.

Why records at all: a manual sync from the API or the console is queued (it runs under the
same one-turn-per-integration rule as every other job) and answered at once with 202 and a
job id; the caller reads the outcome later (`GET /api/crm/jobs/{id}`). The record lives where
the queue's state lives (the SQLite queue file, or Redis), so any process answering the API
sees what any worker wrote. It carries only ids, flags and the run's summary (never a
credential); `loja_id` scopes it, so one store never reads another's job.

Statuses: `na_fila` -> `executando` -> `concluido` | `erro` (`erro` with a short message).

A record lives `CRMSYNC_JOB_RECORD_RETENTION_HOURS` (72 h) after its last change, then the
state store drops it (Redis expiry; a sweep on the next write in SQLite): an API polled by a
busy ERP would otherwise grow the queue's state without bound. An expired id answers 404.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from crmsync.runtime.state import RuntimeState
from crmsync.settings import get_settings

KINDS = ("push_one", "push", "pull", "sync")


def record_key(job_id: str) -> str:
    return f"jobrec:{job_id}"


def valid_job_id(job_id: str) -> bool:
    return len(job_id) == 32 and all(c in "0123456789abcdef" for c in job_id)


def new_record(state: RuntimeState, loja_id: int, integracao_id: int, kind: str, params: dict[str, Any]) -> str:
    """Write a queued job's record; its id (32 hex characters, not guessable)."""
    if kind not in KINDS:
        raise ValueError(f"tipo de job desconhecido: {kind}")
    job_id = uuid.uuid4().hex
    state.set_json(
        record_key(job_id),
        {
            "id": job_id,
            "loja_id": loja_id,
            "integracao_id": integracao_id,
            "tipo": kind,
            "parametros": params,
            "status": "na_fila",
            "criado_em": time.time(),
        },
        ttl=_retention_seconds(),
    )
    return job_id


def read_record(state: RuntimeState, job_id: str) -> dict[str, Any] | None:
    if not valid_job_id(job_id):
        return None
    data = state.get_json(record_key(job_id))
    return data if isinstance(data, dict) else None


def update_record(state: RuntimeState, job_id: str, **changes: Any) -> dict[str, Any] | None:
    data = read_record(state, job_id)
    if data is None:
        return None
    data.update(changes)
    state.set_json(record_key(job_id), data, ttl=_retention_seconds())
    return data


def _retention_seconds() -> float:
    return get_settings().job_record_retention_hours * 3600
