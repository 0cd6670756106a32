"""Worker threads and the scheduler, embedded in a process (`crmsync serve`) or on their own
(`crmsync worker`).

Huey's consumer runs the same task code on the SQLite queue and on Redis. Two details make
it fit here:

- inside `serve`, uvicorn owns the process signals, so the consumer must not install its
  own handlers (they would swallow Ctrl-C); `stop()` is called by `serve` on the way out;
- for `crmsync worker`, SIGTERM (what systemd, Docker and Kubernetes send) is a *graceful*
  stop: the workers finish the job in hand, take no new one, and the process exits. Jobs
  not yet started stay in the queue (Huey removes a job from the queue only when a worker
  takes it). A job cut short by SIGKILL is found again by the next sweep, because what
  needs syncing is derived from state, never only from the lost job.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import FrameType
from typing import Any

from huey.consumer import Consumer
from starlette.concurrency import run_in_threadpool

from crmsync.gc_tuning import tune_after_startup
from crmsync.runtime.options import RuntimeOptions, runtime_options
from crmsync.runtime.outbox import OutboxWatcher, watcher_if_mapped
from crmsync.runtime.queue import get_huey
from crmsync.runtime.scheduler import Scheduler
from crmsync.settings import Settings, get_settings

log = logging.getLogger("crmsync.runtime")


class _QuietConsumer(Consumer):
    """A consumer that leaves process signals to its host."""

    def _set_signal_handlers(self) -> None:
        return None


class EmbeddedRuntime:
    """`EmbeddedRuntime(settings).start()` ... `.stop()`: worker threads + scheduler."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        workers: int | None = None,
        scheduler: bool = True,
        options: RuntimeOptions | None = None,
    ) -> None:
        self.settings = settings or get_settings()
        self.options = options or runtime_options()
        self.workers = max(1, workers if workers is not None else self.options.embedded_workers)
        self.with_scheduler = scheduler
        self.consumer: Consumer | None = None
        self.scheduler: Scheduler | None = None
        self.outbox: OutboxWatcher | None = None

    def start(self) -> EmbeddedRuntime:
        if self.consumer is not None:
            return self
        huey = get_huey(self.settings)
        self.consumer = _QuietConsumer(
            huey,
            workers=self.workers,
            worker_type="thread",
            periodic=False,
            initial_delay=0.05,
            backoff=1.3,
            max_delay=0.5,
            scheduler_interval=1,
            check_worker_health=True,
            shutdown_timeout=self.options.shutdown_timeout_seconds,
        )
        self.consumer.start()
        self._health = threading.Thread(target=self._watch, name="crmsync-consumer-health", daemon=True)
        self._stopping = threading.Event()
        self._health.start()
        if self.with_scheduler:
            self.scheduler = Scheduler(self.settings, self.options).start()
            self.outbox = watcher_if_mapped(self.settings)  # attached to an ERP: its trigger outbox
            if self.outbox is not None:
                self.outbox.start()
        log.info(
            "runtime embutido: %s workers, agendador %s",
            self.workers,
            "ligado" if self.with_scheduler else "desligado",
        )
        return self

    def _watch(self) -> None:
        """Replace dead worker threads (what Consumer.run() would do in its own loop)."""
        while not self._stopping.wait(10.0):
            consumer = self.consumer
            if consumer is None:
                return
            try:
                consumer.check_worker_health()
            except Exception:
                log.debug("verificação dos workers falhou", exc_info=True)

    def stop(self, graceful: bool = True) -> None:
        """Stop the scheduler, let running jobs finish (up to `shutdown_timeout_seconds`)."""
        if self.scheduler is not None:
            self.scheduler.stop()
            self.scheduler = None
        if self.outbox is not None:
            self.outbox.stop()
            self.outbox = None
        if self.consumer is not None:
            self._stopping.set()
            self.consumer.stop(graceful=graceful)
            self.consumer = None
            log.info("runtime embutido parado")

    def attach(self, app: Any) -> EmbeddedRuntime:
        """Stop (gracefully) when the web app shuts down.

        uvicorn re-raises SIGTERM/SIGINT once its own shutdown is done, which ends the process
        before code after `uvicorn.run()` could run; the app's shutdown event runs before that,
        so running jobs get to finish."""
        inner = app.router.lifespan_context
        runtime = self

        @asynccontextmanager
        async def lifespan(the_app: Any) -> AsyncIterator[Any]:
            async with inner(the_app) as state:
                yield state
            await run_in_threadpool(runtime.stop)

        app.router.lifespan_context = lifespan
        return self

    def __enter__(self) -> EmbeddedRuntime:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def run_worker(concurrency: int = 2, *, scheduler: bool = True, settings: Settings | None = None) -> None:
    """Blocking `crmsync worker`: threads + (shared, self-electing) scheduler until SIGTERM/SIGINT."""
    runtime = EmbeddedRuntime(settings, workers=concurrency, scheduler=scheduler)
    stop = threading.Event()
    received: dict[str, Any] = {}

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        received["signal"] = signal.Signals(signum).name
        if stop.is_set():  # a second signal: stop now
            raise KeyboardInterrupt
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    runtime.start()
    tune_after_startup()
    log.info("worker pronto (%s threads)", concurrency)
    try:
        while not stop.wait(0.5):
            pass
        log.info("%s recebido: terminando os jobs em andamento", received.get("signal"))
        runtime.stop(graceful=True)
    except KeyboardInterrupt:
        runtime.stop(graceful=False)
