"""`PeriodicThread`: the daemon thread of the runtime's watchers (the scheduler's tick, the
ERP outbox's poll).

Each watcher's work stays a plain method that tests and benchmarks call directly; what runs
it in the background (start once, stop and join, a failing step logged and tried again at
the next period, never ending the thread) is one behaviour, written here once.
"""

from __future__ import annotations

import logging
import threading
from typing import ClassVar, Self


class PeriodicThread:
    """Calls `step()` every `period()` seconds on a daemon thread between `start()` and `stop()`."""

    thread_name: ClassVar[str] = "crmsync-periodic"
    # Logged (with the traceback) when a step fails: the thread goes on.
    failure_message: ClassVar[str] = "falha na tarefa periódica (tenta de novo)"

    def __init__(self, log: logging.Logger) -> None:
        self._log = log
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def step(self) -> object:
        raise NotImplementedError

    def period(self) -> float:
        raise NotImplementedError

    def start(self) -> Self:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the thread to end and wait up to `timeout` for its current step."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.step()
            except Exception:
                self._log.exception(self.failure_message)
            self._stop.wait(self.period())
