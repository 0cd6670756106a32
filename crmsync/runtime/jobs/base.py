"""The one job wrapper every task-queue job runs in.

Every job is safe to run twice and to be killed half way (the engine's writes are
idempotent and level-triggered; see ARCHITECTURE.md), so the queue only needs
at-least-once delivery. What the jobs add on top of the engine, once, here:

- **Skipping.** An inactive integration, or an entity it does not sync in the job's
  direction: the job is `ignorado`. Its config is parsed once into `IntegrationConfig` and
  travels with the job (`JobRun.cfg`).
- **The breaker** (`crmsync.runtime.breaker`): while the integration's CRM is unreachable
  or refuses the credentials a job is `adiado` without calling it (one job at a time probes
  once the open period is over). Inside a job a request that timed out is not repeated at
  once (`job_timeout_attempts`): a hung CRM holds a worker for one timeout, then the breaker
  opens.
- **Locks.** Jobs for one record (store, provider, entity, local id / external id) never run
  at the same time, nor two pulls of one (integration, entity). Work that may *create* a
  record (an unlinked push, an unlinked webhook pull) also takes the entity's pull lock, so a
  running page scan cannot import the same record while it is being created on the other
  side (the classic duplicate of connector-magento #165). Locks expire, so a worker killed
  with SIGKILL frees them after `lock_ttl_seconds`. A busy lock sends the job back through
  the queue (`ocupado`).
- **Fair sharing** (`crmsync.runtime.fairness`): every job that calls the CRM first takes
  its integration's turn (one running job per integration); a busy integration sends the
  job back through the queue (`aguardando_vez`) instead of holding a worker, and a slow
  failure earns the integration a cool-down.
- **Coalescing** (`crmsync.runtime.enqueue`): the job clears its "queued" marker only once it
  holds the lock, so a save made while it runs queues a new one.
- **Failed items** (`crm_itens_falhos`, owned by `crmsync.engine.ledger`): an item that fails
  is retried with exponential backoff, then parked as `falhou` with its last error until
  `crmsync retry`/`ignore`.
- **Counters** for `/metrics` in the shared runtime state (jobs by status, provider HTTP
  requests by status, 429s), so every worker process contributes.

Task bodies take only ids (never ORM objects or secrets): the queue stores arguments in
clear text.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from huey.exceptions import RetryTask
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, sessionmaker

from crmsync.config import IntegrationConfig, integration_config
from crmsync.db.local import Loja
from crmsync.db.session import get_sessionmaker
from crmsync.db.sync import CrmIntegracao
from crmsync.engine import RunOptions, SyncEngine
from crmsync.engine.ledger import clip_error, note_failure, note_success
from crmsync.providers.base import ProviderError, RateLimitedError
from crmsync.providers.transport import timeouts_tried_once
from crmsync.runtime.breaker import breaker_after, breaker_gate, connection_id, release_probe, waiting_message
from crmsync.runtime.fairness import IntegrationBusy, Turn, integration_turn
from crmsync.runtime.locks import LockBusy, hold
from crmsync.runtime.options import RuntimeOptions, runtime_options
from crmsync.runtime.queue import get_state
from crmsync.runtime.state import RuntimeState

log = logging.getLogger("crmsync.jobs")

BUSY_RETRY_SECONDS = 1.0
LOCK_WAIT_SECONDS = 3.0  # record locks: wait this long before going back through the queue
_WORKER_ID = f"{socket.gethostname()}-{os.getpid()}"

R = TypeVar("R")


def count(state: RuntimeState, job: str, status: str) -> str:
    """Count one finished job by status (for `/metrics`); returns `status`."""
    try:
        state.incr(f"jobs:{job}:{status}")
        state.incr(f"worker:{_WORKER_ID}:{job}")
    except Exception:  # metrics must never fail a job
        log.debug("contador indisponível", exc_info=True)
    return status


def record_transport(state: RuntimeState, engine: Any) -> dict[str, Any]:
    """Add the engine's HTTP statistics (per job, fresh transport) to the shared counters."""
    try:
        provider = getattr(engine, "provider", None) or getattr(engine, "_provider", None)
        transport = getattr(provider, "transport", None) or getattr(provider, "_transport", None)
        stats = transport.stats() if transport is not None and hasattr(transport, "stats") else None
        if not stats:
            return {}
        key = getattr(provider, "key", "provider")
        for status, n in (stats.get("by_status") or {}).items():
            if n:
                state.incr(f"http:{key}:{status}", int(n))
        if stats.get("rate_limited"):
            state.incr(f"http429:{key}", int(stats["rate_limited"]))
        if stats.get("quota_refused"):
            state.incr(f"quota_refused:{key}", int(stats["quota_refused"]))
        return dict(stats)
    except Exception:
        log.debug("estatísticas HTTP indisponíveis", exc_info=True)
        return {}


def provider_error(exc: BaseException) -> tuple[bool, float | None, bool]:
    """(retriable, retry_after, quota_exhausted) of an exception the engine let through."""
    if isinstance(exc, RateLimitedError):
        return True, exc.retry_after, bool(exc.quota_exhausted)
    if isinstance(exc, ProviderError):
        return exc.retriable, None, False
    return True, None, False


def describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return clip_error(f"{type(exc).__name__}: {text}")


# The integration with its store's switch, in one read (built once: every job runs it).
_INTEGRATION_AND_STORE = (
    select(CrmIntegracao, Loja.ativo)
    .join(Loja, Loja.id == CrmIntegracao.id_loja)
    .where(CrmIntegracao.id == bindparam("integracao_id"))
)


def active_integration(session: Session, integracao_id: int) -> CrmIntegracao | None:
    found = session.execute(_INTEGRATION_AND_STORE, {"integracao_id": integracao_id}).first()
    if found is None:  # no such integration, or its store is gone
        return None
    integ, loja_ativo = found
    if not integ.ativo or not loja_ativo:  # a disabled store syncs nothing
        return None
    return integ


class JobRun:
    """One run of a job: its context, its integration and typed config, and the skeleton
    every job shares (skip, breaker, lock, engine call, failed items, counters)."""

    def __init__(self, name: str, session: Session, sf: sessionmaker[Session], marker: str | None) -> None:
        self.name = name
        self.session = session
        self.sf = sf
        self.state: RuntimeState = get_state()
        self.opts: RuntimeOptions = runtime_options()
        self.marker = marker
        self.integ: CrmIntegracao | None = None
        self.cfg: IntegrationConfig | None = None
        self.turn: Turn | None = None
        self.probing = False  # this job holds the breaker's half-open probe slot
        self.breaker_reason = ""

    # ------------------------------------------------------------------ outcome
    def done(self, status: str) -> str:
        if status == "erro" and self.turn is not None:
            self.turn.failed = True  # a slow failure earns the integration a cool-down
        return count(self.state, self.name, status)

    def forget_marker(self) -> None:
        if self.marker is not None:
            self.state.delete(self.marker)

    def skip(self, status: str = "ignorado") -> str:
        """Finish without work (`ignorado`, `adiado`, `sem_mudanca`), clearing the marker."""
        self.forget_marker()
        return self.done(status)

    # ------------------------------------------------------------------ guards
    def load(self, integracao_id: int, entity_type: str | None = None, direction: str | None = None) -> bool:
        """Load the active integration and its config; False when the job has nothing to do."""
        self.integ = active_integration(self.session, integracao_id)
        if self.integ is None:
            return False
        self.cfg = integration_config(self.integ)
        return entity_type is None or direction is None or self.cfg.syncs(entity_type, direction)

    @property
    def integration(self) -> CrmIntegracao:
        assert self.integ is not None, "load() first"
        return self.integ

    @property
    def connection(self) -> str:
        """Which address and account the breaker state is about (see `runtime.breaker`)."""
        return connection_id(self.integration.base_url, self.integration.credenciais_hash)

    def breaker_until(self) -> float | None:
        """When an open breaker lets this job's work through (defer it till then); None: go,
        maybe as the breaker's one probe."""
        gate = breaker_gate(self.state, self.integration.id, self.connection)
        self.probing = gate.probe
        self.breaker_reason = gate.reason
        return gate.until

    def end_probe(self) -> None:
        """A probe that never reached the CRM (busy turn, nothing to send): free the slot."""
        if self.probing and self.integ is not None:
            self.probing = False
            release_probe(self.state, self.integ.id)

    @contextmanager
    def locked(
        self, keys: Sequence[str], *, wait: float = 0.0, busy_delay: float = BUSY_RETRY_SECONDS
    ) -> Iterator[None]:
        """Take the integration's turn, hold `keys`, clear the queued marker, run the body.

        A busy integration or a busy lock sends the job back through the queue (after the
        fairness delay, or `busy_delay`); the marker stays set, so it stays the one queued."""
        try:
            with self.integration_turn(), hold(self.state, keys, self.opts.lock_ttl_seconds, wait=wait):
                self.forget_marker()
                yield
        except IntegrationBusy as exc:
            self.done("aguardando_vez")
            raise RetryTask(delay=exc.retry_after) from None
        except LockBusy:
            self.done("ocupado")
            raise RetryTask(delay=busy_delay) from None

    @contextmanager
    def integration_turn(self) -> Iterator[Turn]:
        """This integration's one turn (raises `IntegrationBusy`; see `runtime.fairness`)."""
        opts = self.opts
        with integration_turn(
            self.state,
            self.integration.id,
            ttl=opts.lock_ttl_seconds,
            retry_base=opts.fair_retry_seconds,
            free_seconds=opts.fair_free_seconds,
            cooldown_factor=opts.fair_cooldown_factor,
        ) as turn:
            self.turn = turn
            try:
                yield turn
            finally:
                self.turn = None

    # ------------------------------------------------------------------ the engine
    def call_engine(self, trigger: str, call: Callable[[SyncEngine], R]) -> R:
        """Run `call` on a fresh engine, then feed the breaker and the HTTP counters and close
        the engine whatever happened. Exceptions propagate to the job."""
        return self.call_engine_with(trigger, call)

    def call_engine_with(
        self,
        trigger: str,
        call: Callable[[SyncEngine], R],
        *,
        dry_run: bool = False,
        actor: str | None = None,
        close_items: bool = True,
    ) -> R:
        """`call_engine` with the run options a manual run carries (dry run, who asked);
        ``close_items`` False: the job closes a success's failed item itself (see RunOptions)."""
        engine = None
        try:
            options = RunOptions(trigger=trigger, dry_run=dry_run, actor=actor, close_items=close_items)
            engine = SyncEngine(
                self.sf, self.integration.id, options=options, config=self.cfg, integration=self.integration
            )
            with timeouts_tried_once(self.opts.job_timeout_attempts or None):
                return call(engine)
        finally:
            if engine is not None:
                stats = record_transport(self.state, engine)
                self.probing = False  # its outcome, whatever it is, settles the probe
                breaker_after(self.state, self.integration.id, stats, self.connection)
                engine.close()

    # ------------------------------------------------------------------ failed items
    def failed(self, entity_type: str, direcao: str, **kwargs: Any) -> None:
        note_failure(self.session, self.integration, entity_type, direcao, opts=self.opts, **kwargs)

    def deferred(self, entity_type: str, direcao: str, until: float, **kwargs: Any) -> None:
        """The breaker is open: the item waits (not counted as an attempt) until it may probe."""
        self.failed(
            entity_type,
            direcao,
            error=waiting_message(self.breaker_reason),
            retry_after=until - time.time(),
            quota=True,
            **kwargs,
        )

    def succeeded(self, entity_type: str, direcao: str, **kwargs: Any) -> None:
        note_success(self.session, self.integration, entity_type, direcao, **kwargs)


@contextmanager
def job_run(name: str, marker: str | None = None) -> Iterator[JobRun]:
    """A job's run with its own session (closed when the job ends)."""
    sf = get_sessionmaker()
    run: JobRun | None = None
    try:
        with sf() as session:
            run = JobRun(name, session, sf, marker)
            yield run
    finally:
        if run is not None:
            run.end_probe()  # a probe that never reached the CRM frees the slot
