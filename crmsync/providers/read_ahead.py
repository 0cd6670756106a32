"""Reading a provider's pages ahead of their consumer: in a thread, or in another process.

The process side lives here, beside the providers and away from the engine, so that the
process it starts imports a provider and nothing more (no ORM, no engine): it starts sooner
and takes less memory. `crmsync.engine.listing` decides when to use which.

* `prefetched`: a background thread reads up to ``depth`` pages ahead. Mapping still shares
  the interpreter lock with the consumer; the HTTP wait does not.
* `ListingProcess`: another process builds the provider from its `listing_factory` recipe
  and sends its pages through a pipe, so mapping runs on another core.

Either way pages come out in order, and a listing error is raised at the point the failed
page would have been consumed.
"""

from __future__ import annotations

import contextvars
import os
import pickle
import queue
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, Protocol, runtime_checkable

from crmsync.providers.base import Page, Provider, ProviderError, RetriableError, error_message

__all__ = [
    "CHILD_COMMAND",
    "ListingProcess",
    "ListingProcessError",
    "ListsInAnotherProcess",
    "child_main",
    "portable_error",
    "prefetched",
]

_DONE = object()  # end of a thread's pages


@dataclass
class _End:
    """The listing process's last message: how the listing ended, and the request counters
    of its transport (added to this process's, for the job's figures and `/metrics`)."""

    error: BaseException | None
    stats: dict[str, Any]


@runtime_checkable
class ListsInAnotherProcess(Protocol):
    """A provider that can be rebuilt in another process, sharing this one's pacing and
    daily quota (a store on disk or in Redis)."""

    def listing_factory(self) -> Callable[[], Provider] | None:
        """A picklable zero-argument callable returning an equivalent provider, or None
        when this instance cannot be rebuilt elsewhere."""
        ...

    def stats(self) -> dict[str, Any]:
        """Request counters (sent, retries, 429s, ... by status)."""
        ...

    def add_stats(self, stats: Mapping[str, Any]) -> None:
        """Count in another instance's `stats()`."""
        ...


class ListingProcessError(RetriableError):
    """The listing process stopped without a page or an error to hand over (killed, out of
    memory); the run keeps its checkpoint and the next one resumes from it."""


def prefetched(pages: Iterator[Page], depth: int) -> Iterator[Page]:
    """Read the next pages in a background thread while the current one is applied."""
    if depth <= 0:
        yield from pages
        return
    buffer: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: Any) -> bool:
        """Hand ``item`` to the consumer; False once the consumer has stopped."""
        while not stop.is_set():
            try:
                buffer.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for page in pages:
                if not put(page):
                    return
            item: Any = _DONE
        except BaseException as exc:  # handed to the consumer, raised there
            item = exc
        put(item)

    # in the caller's context: its request policy (`transport.timeouts_tried_once`) holds here too
    context = contextvars.copy_context()
    worker = threading.Thread(target=context.run, args=(produce,), name="crmsync-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item = buffer.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join(timeout=30)


def portable_error(exc: BaseException) -> BaseException:
    """``exc`` if it survives pickling (most provider errors do), else a provider error
    with its message, retriable when the original was."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        message = error_message(exc)
        return RetriableError(message) if isinstance(exc, RetriableError) else ProviderError(message)


def _list_in_child(
    factory: Callable[[], Provider],
    entity_type: str,
    start_page: int,
    newest_first: bool,
    depth: int,
    out: Connection,
    log_level: str | None,
) -> None:
    """Body of the listing process: build the provider and send its pages (read ``depth``
    ahead by a thread here too) until the listing ends or fails, then an `_End` saying
    which. A closed pipe means the parent stopped listening: stop quietly."""
    if log_level:
        from crmsync.logs import configure  # only a child asked to log pays for structlog (start-up)

        configure(log_level)
    try:
        provider = factory()
    except BaseException as exc:
        _send_last(out, _End(portable_error(exc), {}))
        return
    error: BaseException | None = None
    try:
        for page in prefetched(provider.iter_pages(entity_type, start_page, newest_first=newest_first), depth):
            out.send(page)
    except (BrokenPipeError, ConnectionResetError):
        return
    except BaseException as exc:
        error = portable_error(exc)
    finally:
        provider.close()
    stats = provider.stats() if isinstance(provider, ListsInAnotherProcess) else {}
    _send_last(out, _End(error, stats))


def _send_last(out: Connection, item: _End) -> None:
    try:
        out.send(item)
        out.close()
    except OSError:
        pass  # the parent is gone or stopped listening


@dataclass
class _Order:
    """What the listing process is to list, sent pickled on its standard input."""

    factory: Callable[[], Provider]
    entity_type: str
    start_page: int
    newest_first: bool
    depth: int
    pages_fd: int
    log_level: str | None


def child_main() -> None:
    """Entry point of the listing process (``python -c``): the parent's import path, then an
    `_Order`, arrive pickled on standard input; pages leave through the pipe it names."""
    stdin = sys.stdin.buffer
    sys.path[:] = pickle.load(stdin)
    order: _Order = pickle.load(stdin)
    out = Connection(order.pages_fd, readable=False)
    _list_in_child(
        order.factory, order.entity_type, order.start_page, order.newest_first, order.depth, out, order.log_level
    )


class ListingProcess:
    """The provider's pages from ``start_page`` on, listed by a process started at once.
    Iterate `pages()`; `close()` stops the process, whether or not it was iterated.

    A fresh interpreter (``python -c``), not `multiprocessing`: a spawned process imports the
    parent's main script again, and a script that calls crmsync without an
    ``if __name__ == "__main__"`` guard would run a second time there; a forked one would
    copy locks held by the threads of a web server or a queue.

    The pages travel through a one-way pipe whose writing end only the child holds, so a
    child that dies, even half-way through sending a page, ends in an error here instead of
    a read that waits forever."""

    def __init__(
        self,
        factory: Callable[[], Provider],
        entity_type: str,
        start_page: int,
        *,
        depth: int,
        newest_first: bool = False,
        log_level: str | None = None,
        on_stats: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self._on_stats = on_stats
        self._closed = False
        read_end, write_end = os.pipe()
        try:
            order = pickle.dumps(_Order(factory, entity_type, start_page, newest_first, depth, write_end, log_level))
            self._child = subprocess.Popen(
                [sys.executable, "-c", CHILD_COMMAND],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                pass_fds=(write_end,),
            )
        except BaseException:
            os.close(read_end)
            raise
        finally:
            os.close(write_end)
        self._in = Connection(read_end, writable=False)
        stdin = self._child.stdin
        assert stdin is not None
        try:
            stdin.write(pickle.dumps(list(sys.path)) + order)
            stdin.close()
        except OSError:
            pass  # it died at once: pages() says so

    @property
    def pid(self) -> int:
        return self._child.pid

    def pages(self) -> Iterator[Page]:
        try:
            while True:
                try:
                    item = self._in.recv()
                except (EOFError, OSError):
                    raise ListingProcessError(
                        f"o processo de leitura do CRM terminou sem concluir a listagem (código {self._exit_code()})"
                    ) from None
                if isinstance(item, _End):
                    if self._on_stats is not None and item.stats:
                        self._on_stats(item.stats)
                    if item.error is not None:
                        raise item.error
                    return
                yield item
        finally:
            self.close()

    def _exit_code(self) -> int | None:
        try:
            return self._child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            return None

    def close(self) -> None:
        """Stop listening (the child's next send fails and it exits), then wait for it."""
        if self._closed:
            return
        self._closed = True
        self._in.close()
        if self._exit_code() is None:
            self._child.kill()
            self._child.wait()


CHILD_COMMAND = f"from {__name__} import child_main; child_main()"
