"""The circuit breaker: one per integration, kept in the shared runtime state.

Why: one store's broken CRM must cost the shared workers (and the CRM) nothing while it stays
broken. Sending every queued job to a CRM that does not answer holds a worker for a whole
timeout each time; sending them to a CRM that refuses the credentials only collects 401s.
So after a job finds the CRM **unreachable** (connection failures, timeouts, 5xx and no other
answer) or **refusing the credentials** (401 and no success), the integration's breaker
opens:

- while it is open, jobs do not call the CRM: they are deferred to the failed-items ledger
  (retried when it closes, not counted as attempts) or skipped (scans; the next one runs
  later), without taking a worker for longer than that check;
- when the open period ends, **one** job at a time is the probe (a slot in the shared state,
  so it holds across threads and `crmsync worker` processes); the other jobs stay deferred
  while it runs. An answer closes the breaker; no answer reopens it for twice as long
  (`breaker_first_seconds`, doubling up to `breaker_max_seconds`);
- refused credentials are not fixed by waiting: the breaker stays open for
  `breaker_auth_seconds`, or until the integration's address or tokens change (the state
  remembers which connection it was opened for, and `update_connection` resets it).

A manual run (a person asked) ignores the breaker, and its outcome feeds it like a probe's.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from typing import Any

from crmsync.runtime.options import runtime_options
from crmsync.runtime.state import RuntimeState

log = logging.getLogger("crmsync.jobs")

REASON_UNREACHABLE = "inacessivel"
REASON_AUTH = "credenciais"


def breaker_key(integracao_id: int) -> str:
    return f"breaker:{integracao_id}"


def probe_key(integracao_id: int) -> str:
    return f"breakerprobe:{integracao_id}"


def connection_id(base_url: str, credenciais_hash: str | None) -> str:
    """Which address and account a breaker was opened for (a hash: no token in the state)."""
    return hashlib.sha256(f"{base_url}\x00{credenciais_hash or ''}".encode()).hexdigest()[:16]


def _by_status(stats: dict[str, Any]) -> dict[str, int]:
    return {str(k): int(v or 0) for k, v in (stats.get("by_status") or {}).items()}


def crm_unreachable(stats: dict[str, Any]) -> bool:
    """The CRM did not answer at all: connection failures, timeouts or 5xx, and no other answer.

    A flaky CRM (some 5xx among successes) is left to the transport's retries; only one that
    answered nothing useful opens the breaker."""
    by_status = _by_status(stats)
    answered = sum(n for code, n in by_status.items() if not code.startswith("5"))
    failures = int(stats.get("connection_errors") or 0) + int(stats.get("timeouts") or 0)
    failures += sum(n for code, n in by_status.items() if code.startswith("5"))
    return failures > 0 and answered == 0


def credentials_refused(stats: dict[str, Any]) -> bool:
    """The CRM answered, and refused who we are (401) without one success. Not 403: some
    CRMs answer it for one record or module the account may not see, and an hour's pause of
    the whole integration for that would be worse than the 403 itself."""
    by_status = _by_status(stats)
    refused = by_status.get("401", 0)
    succeeded = sum(n for code, n in by_status.items() if code.startswith("2"))
    return refused > 0 and succeeded == 0


def _requests(stats: dict[str, Any]) -> int:
    sent = int(stats.get("requests_sent") or 0)
    return max(sent, sum(_by_status(stats).values()))


@dataclass(frozen=True)
class Gate:
    """What the breaker says to a job: go (`until` None; `probe` when this job is the one
    half-open try), or wait until `until`."""

    until: float | None = None
    probe: bool = False
    reason: str = REASON_UNREACHABLE


def _read(state: RuntimeState, integracao_id: int) -> dict[str, Any] | None:
    data = state.get_json(breaker_key(integracao_id))
    return data if isinstance(data, dict) else None


def breaker_open_until(state: RuntimeState, integracao_id: int, conn: str | None = None) -> float | None:
    """When the integration's open breaker lets the next probe through; None when it is
    closed (or opened for another address/account than `conn`). Read only: status pages."""
    try:
        data = _read(state, integracao_id)
    except Exception:
        return None
    if data is None or (conn is not None and data.get("conn") not in (None, conn)):
        return None
    until = float(data.get("until", 0))
    return until if until > time.time() else None


def waiting_message(reason: str) -> str:
    """What a store user reads on an item deferred by the open breaker."""
    if reason == REASON_AUTH:
        return "o CRM recusou as credenciais: aguardando credenciais novas para tentar de novo"
    return "CRM inacessível: aguardando para tentar de novo"


def breaker_gate(state: RuntimeState, integracao_id: int, conn: str | None = None) -> Gate:
    """Whether a job may call the CRM now. An open breaker defers it; once the open period
    is over, the first job to ask becomes the probe and the others wait for its outcome.
    Never raises: with the state unreachable the job goes ahead."""
    try:
        data = _read(state, integracao_id)
        if data is None:
            return Gate()
        if conn is not None and data.get("conn") not in (None, conn):
            reset_breaker(state, integracao_id)  # new address or tokens: give them a chance
            return Gate()
        now = time.time()
        until = float(data.get("until", 0))
        reason = str(data.get("reason") or REASON_UNREACHABLE)
        if until > now:
            return Gate(until=until, reason=reason)
        opts = runtime_options()
        if state.set_if_absent(probe_key(integracao_id), "1", opts.breaker_probe_ttl_seconds):
            return Gate(probe=True)
        # another job is probing: come back after a short while (its outcome decides)
        return Gate(until=now + min(opts.breaker_first_seconds, float(data.get("window") or 0) or 60.0), reason=reason)
    except Exception:
        log.debug("disjuntor indisponível", exc_info=True)
        return Gate()


def release_probe(state: RuntimeState, integracao_id: int) -> None:
    """A probe that ended without asking the CRM anything: let the next job probe."""
    try:
        state.delete(probe_key(integracao_id))
    except Exception:
        log.debug("disjuntor indisponível", exc_info=True)


def reset_breaker(state: RuntimeState, integracao_id: int) -> None:
    """Close the breaker (the integration's address or credentials changed)."""
    state.set_json(breaker_key(integracao_id), None)
    state.delete(probe_key(integracao_id))


def breaker_after(state: RuntimeState, integracao_id: int, stats: dict[str, Any], conn: str | None = None) -> None:
    """Feed the breaker what a job's CRM calls found: close it after an answer; open it (or
    double its wait) after no answer; keep it open long after refused credentials. A job
    that sent no request tells nothing. Never raises: a breaker problem must not fail a job."""
    try:
        key = breaker_key(integracao_id)
        previous = _read(state, integracao_id) or {}
        opts = runtime_options()
        if credentials_refused(stats):
            window = opts.breaker_auth_seconds
            reason = REASON_AUTH
            log.warning("CRM da integração %s recusou as credenciais: pausada por %.0f s", integracao_id, window)
        elif crm_unreachable(stats):
            earlier = float(previous.get("window", 0)) if previous.get("reason") == REASON_UNREACHABLE else 0.0
            window = min(opts.breaker_max_seconds, max(opts.breaker_first_seconds, earlier * 2))
            reason = REASON_UNREACHABLE
            log.warning("CRM da integração %s inacessível: novas tentativas em %.0f s", integracao_id, window)
        elif _requests(stats) > 0:
            if previous:
                state.set_json(key, None)  # the CRM answered: closed
            state.delete(probe_key(integracao_id))
            return
        else:
            state.delete(probe_key(integracao_id))  # nothing was asked: no news
            return
        state.set_json(key, {"until": time.time() + window, "window": window, "reason": reason, "conn": conn})
        state.delete(probe_key(integracao_id))
    except Exception:
        log.debug("disjuntor indisponível", exc_info=True)
