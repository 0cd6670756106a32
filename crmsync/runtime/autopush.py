"""Automatic push after local writes.

`install_listeners()` is called once at application start-up. It registers the after-write
listener: a committed local write (API or any service) puts `(loja, entity, id)` on an
in-process hand-off queue and returns at once; a daemon thread turns it into push jobs, one
per active integration of the store that pushes that entity. So a save never waits for the
task queue, let alone the CRM, and never fails because of either: if the queue is down the
job is simply not queued, and the periodic reconcile finds the row (its content hash
differs from the link's) and pushes it.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from crmsync.config import integration_config
from crmsync.db.hooks import register_listener, unregister_listener
from crmsync.db.session import get_sessionmaker
from crmsync.db.sync import CrmIntegracao
from crmsync.runtime.jobs import enqueue_push

log = logging.getLogger("crmsync.runtime")

__all__ = ["defer", "install_listeners", "uninstall_listeners", "wait_dispatched"]


class _Dispatcher:
    """Hand-off between request threads and the queue (bounded; overflow is left to reconcile)."""

    def __init__(self, maxsize: int = 100_000) -> None:
        self.inbox: queue.Queue[tuple[Callable[..., Any], tuple[Any, ...]]] = queue.Queue(maxsize=maxsize)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def put(self, fn: Callable[..., Any], *args: Any) -> None:
        try:
            self.inbox.put_nowait((fn, args))
        except queue.Full:
            log.warning("fila interna cheia: %s%r fica para a reconciliação", getattr(fn, "__name__", fn), args)
            return
        self._ensure_thread()

    def _ensure_thread(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="crmsync-autopush", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            fn, args = self.inbox.get()
            try:
                fn(*args)
            except Exception:
                log.warning(
                    "%s%r não enfileirado (a reconciliação retoma)",
                    getattr(fn, "__name__", fn),
                    args,
                    exc_info=True,
                )
            finally:
                self.inbox.task_done()

    def wait(self, timeout: float = 10.0) -> bool:
        """Whether every handed-off call has run within `timeout`; woken by the inbox's own
        condition when its last task is done, not by polling."""
        drained = self.inbox.all_tasks_done
        with drained:
            return drained.wait_for(lambda: self.inbox.unfinished_tasks == 0, timeout)


_dispatcher = _Dispatcher()


_TARGETS_TTL = 5.0
_targets: dict[tuple[int, str], tuple[float, list[int]]] = {}


def _push_targets(loja_id: int, entity_type: str) -> list[int]:
    """Active integrations of the store that push this entity; cached a few seconds, since a
    busy store saves many rows a second and its integrations rarely change."""
    now = time.monotonic()
    cached = _targets.get((loja_id, entity_type))
    if cached is not None and now - cached[0] < _TARGETS_TTL:
        return cached[1]
    with get_sessionmaker()() as session:
        integs = session.scalars(
            select(CrmIntegracao)
            .where(CrmIntegracao.id_loja == loja_id, CrmIntegracao.ativo.is_(True))
            .order_by(CrmIntegracao.id)
        )
        targets = [i.id for i in integs if integration_config(i).syncs(entity_type, "push")]
    _targets[(loja_id, entity_type)] = (now, targets)
    return targets


def _push_after_write(loja_id: int, entity_type: str, entity_id: int) -> None:
    for integracao_id in _push_targets(loja_id, entity_type):
        enqueue_push(integracao_id, entity_type, entity_id, trigger="automatico")


def _on_local_write(loja_id: int, entity_type: str, entity_id: int) -> None:
    _dispatcher.put(_push_after_write, int(loja_id), str(entity_type), int(entity_id))


def defer(fn: Callable[..., Any], *args: Any) -> None:
    """Run `fn(*args)` soon on the hand-off thread (queueing work without making the caller wait)."""
    _dispatcher.put(fn, *args)


def install_listeners() -> None:
    """Register the automatic-push listener (idempotent)."""
    register_listener(_on_local_write)


def uninstall_listeners() -> None:
    unregister_listener(_on_local_write)
    _targets.clear()


def wait_dispatched(timeout: float = 10.0) -> bool:
    """Wait until every local write seen so far has been handed to the queue (tests, demo)."""
    return _dispatcher.wait(timeout)
