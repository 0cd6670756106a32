"""Fair sharing of the workers between integrations (stores): one turn at a time each.

Why: every store's CRM fails in its own way, and the workers are shared. Two rules keep one
store's trouble from reaching the others:

- **One running job per integration.** A job takes its integration's turn (an expiring,
  renewed lock in the runtime state, the same store the record locks use, so it holds on the
  SQLite queue inside one process and on Redis across `crmsync worker` processes). A job
  whose integration is busy does not wait on a worker: it goes back through the queue after
  short, jittered delay (`IntegrationBusy`) that grows with how long the turn has been held
  (up to `MAX_BUSY_DELAY`): a job that has run for a minute will likely run longer, and a
  long backlog of a stuck store must not spend the workers' time bouncing through the queue.
  So one integration's backlog can occupy at most one worker at a time, however many of its
  jobs are queued.
- **A slow failure costs a pause.** A job that ended in error after more than
  `fair_free_seconds` (a hung or drip-feeding CRM, a timeout) puts its integration on a
  cool-down of `elapsed * fair_cooldown_factor` seconds before its next turn. Over time a
  hung integration therefore holds at most 1 / (1 + factor) of one worker; healthy work of
  the same store waits in the queue, nothing is dropped (the jobs are only delayed).

Manual runs (API `?esperar=true`, the CLI) take the same turn, waiting for it instead of
going back through the queue.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from contextlib import contextmanager

from crmsync.runtime.locks import LockBusy, hold
from crmsync.runtime.state import RuntimeState


class IntegrationBusy(Exception):
    """The integration's turn is taken (or it is cooling down): try again after `retry_after`."""

    def __init__(self, integracao_id: int, retry_after: float) -> None:
        super().__init__(f"integração {integracao_id} ocupada")
        self.integracao_id = integracao_id
        self.retry_after = retry_after


def turn_key(integracao_id: int) -> str:
    return f"lock:integ:{integracao_id}"


MAX_BUSY_DELAY = 30.0


def started_key(integracao_id: int) -> str:
    return f"turnstart:integ:{integracao_id}"


def cooldown_key(integracao_id: int) -> str:
    return f"cooldown:integ:{integracao_id}"


def cooldown_left(state: RuntimeState, integracao_id: int, now: float | None = None) -> float:
    """Seconds until the integration may take its next turn (0: now)."""
    until = state.get_json(cooldown_key(integracao_id))
    now = time.time() if now is None else now
    return max(0.0, float(until) - now) if isinstance(until, int | float) else 0.0


def busy_delay(base: float, held_for: float = 0.0) -> float:
    """A jittered delay, so a backlog of one integration does not come back all at once; the
    longer the turn has been held, the longer a waiting job stays away (at most
    `MAX_BUSY_DELAY`)."""
    return min(MAX_BUSY_DELAY, max(base, held_for / 2.0)) * (0.5 + random.random())


def cooldown_after(elapsed: float, failed: bool, free_seconds: float, factor: float) -> float:
    """The pause an integration earns after a job: only a failure that took a long time."""
    if not failed or elapsed <= free_seconds:
        return 0.0
    return elapsed * factor


class Turn:
    """What the body of `integration_turn` reports back: whether its work failed."""

    failed: bool = False


@contextmanager
def integration_turn(
    state: RuntimeState,
    integracao_id: int,
    *,
    ttl: float,
    wait: float = 0.0,
    retry_base: float = 1.0,
    free_seconds: float = 5.0,
    cooldown_factor: float = 1.0,
    respect_cooldown: bool = True,
) -> Iterator[Turn]:
    """Hold the integration's turn around the body, or raise `IntegrationBusy`.

    `wait`: keep trying that long first (manual runs); jobs pass 0 and go back through the
    queue. Set `turn.failed` in the body to have a slow failure earn a cool-down."""
    if respect_cooldown:
        left = cooldown_left(state, integracao_id)
        if left > 0:
            raise IntegrationBusy(integracao_id, left)
    turn = Turn()
    try:
        with hold(state, [turn_key(integracao_id)], ttl, wait=wait):
            state.set_json(started_key(integracao_id), time.time())
            started = time.monotonic()
            try:
                yield turn
            except BaseException:
                turn.failed = True
                raise
            finally:
                pause = cooldown_after(time.monotonic() - started, turn.failed, free_seconds, cooldown_factor)
                if pause > 0:
                    state.set_json(cooldown_key(integracao_id), time.time() + pause)
    except LockBusy as exc:
        if exc.key != turn_key(integracao_id):
            raise  # a record lock taken inside the body: not ours to translate
        since = state.get_json(started_key(integracao_id))
        held_for = max(0.0, time.time() - float(since)) if isinstance(since, int | float) else 0.0
        raise IntegrationBusy(integracao_id, busy_delay(retry_base, held_for)) from None
