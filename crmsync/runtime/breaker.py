"""The circuit breaker: one per integration, kept in the shared runtime state.

When the CRM is unreachable (connection refused, timeouts, 5xx), sending every queued job to
it only piles up retries (and, on SQLite, keeps the engine's write transaction open while
the transport backs off). After a job fails that way the integration's breaker opens: jobs
wait (as failed items due when it closes) without calling the CRM, then one job probes; each
failed probe doubles the wait (15 s, then up to five minutes by default). Polling is skipped
while it is open. A success closes it.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from crmsync.runtime.options import runtime_options
from crmsync.runtime.state import RuntimeState

log = logging.getLogger("crmsync.jobs")


def crm_unreachable(stats: dict[str, Any]) -> bool:
    """The CRM did not answer at all: connection failures, timeouts or 5xx, and no other answer.

    A flaky CRM (some 5xx among successes) is left to the transport's retries; only one that
    answered nothing useful opens the breaker."""
    by_status = {str(k): int(v or 0) for k, v in (stats.get("by_status") or {}).items()}
    answered = sum(n for code, n in by_status.items() if not code.startswith("5"))
    failures = int(stats.get("connection_errors") or 0) + int(stats.get("timeouts") or 0)
    failures += sum(n for code, n in by_status.items() if code.startswith("5"))
    return failures > 0 and answered == 0


def breaker_open_until(state: RuntimeState, integracao_id: int) -> float | None:
    """When the integration's open breaker lets the next job through; None when it is closed."""
    try:
        data = state.get_json(f"breaker:{integracao_id}")
    except Exception:
        return None
    if isinstance(data, dict) and float(data.get("until", 0)) > time.time():
        return float(data["until"])
    return None


def breaker_after(state: RuntimeState, integracao_id: int, ok: bool, stats: dict[str, Any]) -> None:
    """Close the breaker after a success; open it (or double its wait) after a job that found
    the CRM unreachable. Never raises: a breaker problem must not fail a job."""
    try:
        key = f"breaker:{integracao_id}"
        if ok:
            if state.get_json(key):
                state.set_json(key, None)
            return
        if not crm_unreachable(stats):
            return
        previous = state.get_json(key) or {}
        opts = runtime_options()
        window = min(opts.breaker_max_seconds, max(opts.breaker_first_seconds, float(previous.get("window", 0)) * 2))
        state.set_json(key, {"until": time.time() + window, "window": window})
        log.warning("CRM da integração %s inacessível: novas tentativas em %.0f s", integracao_id, window)
    except Exception:
        log.debug("disjuntor indisponível", exc_info=True)
