"""Reading a provider's pages ahead of the engine that applies them.

A full scan costs two kinds of work per page: the provider's (HTTP round trip, JSON, mapping
to canonical records) and the engine's (matching, merging, one database transaction). Done
one after the other they add up; done at the same time the scan takes about as long as the
slower of the two. Two ways, chosen per listing by `read_ahead`:

* a background thread (`prefetched`): always available; it overlaps the HTTP wait and
  SQLite's work, but the mapping still shares the interpreter lock with the engine;
* another process (`ListingProcess`), for a long listing from a provider that can be
  rebuilt there (`ListsInAnotherProcess`): mapping then runs on the other core too. A
  process takes about a second to start, so the first `HANDOVER_PAGES` pages are still
  read here while it does, and short listings never start one.

Either way pages come out in order, at most ``depth`` ahead, and a listing error is raised
at the point the failed page would have been applied, so a page checkpoint means exactly
what it means without reading ahead.
"""

from __future__ import annotations

import itertools
import multiprocessing
import pickle
import queue
import threading
from collections.abc import Callable, Generator, Iterator, Mapping
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, Protocol, runtime_checkable

import structlog

from crmsync.engine.base import error_message
from crmsync.providers.base import Page, Provider, ProviderError, RetriableError

__all__ = [
    "HANDOVER_PAGES",
    "PROCESS_MIN_PAGES",
    "ListingProcess",
    "ListingProcessError",
    "ListsInAnotherProcess",
    "prefetched",
    "read_ahead",
]

log = structlog.get_logger("crmsync.engine.listing")

# Pages read in this process while the listing process starts (~1 s to import; 40 pages
# is about that long at the engine's pace with no rate limit).
HANDOVER_PAGES = 40
# Pages that must be left after the hand-over for a listing process to be worth starting.
PROCESS_MIN_PAGES = 100

_DONE = "__crmsync_listing_done__"


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

    worker = threading.Thread(target=produce, name="crmsync-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item = buffer.get()
            if isinstance(item, str) and item == _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join(timeout=30)


def _portable(exc: BaseException) -> BaseException:
    """``exc`` if it survives pickling (most provider errors do), else a provider error
    with its message, retriable when the original was."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        message = error_message(exc)
        return RetriableError(message) if isinstance(exc, RetriableError) else ProviderError(message)


def _list_in_child(factory: Callable[[], Provider], entity_type: str, start_page: int, newest_first: bool,
                   depth: int, out: Connection, log_level: str | None) -> None:
    """Body of the listing process: build the provider and send its pages (read ``depth``
    ahead by a thread here too) until the listing ends or fails, then an `_End` saying
    which. A closed pipe means the parent stopped listening: stop quietly."""
    if log_level:
        from crmsync.runtime.logs import configure

        configure(log_level)
    try:
        provider = factory()
    except BaseException as exc:
        _send_last(out, _End(_portable(exc), {}))
        return
    error: BaseException | None = None
    try:
        for page in prefetched(provider.iter_pages(entity_type, start_page, newest_first=newest_first), depth):
            out.send(page)
    except (BrokenPipeError, ConnectionResetError):
        return
    except BaseException as exc:
        error = _portable(exc)
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


class ListingProcess:
    """The provider's pages from ``start_page`` on, listed by a process started at once
    (spawned, not forked: the engine may run beside a web server's and a queue's threads).
    Iterate `pages()`; `close()` stops the process, whether or not it was iterated.

    The pages travel through a one-way pipe whose writing end only the child holds, so a
    child that dies, even half-way through sending a page, ends in an error here instead of
    a read that waits forever."""

    def __init__(self, factory: Callable[[], Provider], entity_type: str, start_page: int, *, depth: int,
                 newest_first: bool = False, log_level: str | None = None,
                 on_stats: Callable[[dict[str, Any]], None] | None = None) -> None:
        self._on_stats = on_stats
        ctx = multiprocessing.get_context("spawn")
        self._in, out = ctx.Pipe(duplex=False)
        self._child = ctx.Process(target=_list_in_child, name="crmsync-listing", daemon=True,
                                  args=(factory, entity_type, start_page, newest_first, depth, out, log_level))
        try:
            self._child.start()
        finally:
            out.close()
        self._closed = False

    def pages(self) -> Iterator[Page]:
        try:
            while True:
                try:
                    item = self._in.recv()
                except (EOFError, OSError):
                    self._child.join(timeout=10)
                    raise ListingProcessError(
                        "o processo de leitura do CRM terminou sem concluir a listagem "
                        f"(código {self._child.exitcode})"
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

    def close(self) -> None:
        """Stop listening (the child's next send fails and it exits), then wait for it."""
        if self._closed:
            return
        self._closed = True
        self._in.close()
        self._child.join(timeout=10)
        if self._child.is_alive():
            self._child.terminate()
            self._child.join(timeout=10)


def _pages_left(provider: Provider, page: Page) -> int | None:
    """Pages after ``page``, from the listing's total when the provider reports it."""
    size = provider.capabilities.page_size
    if page.total is None or not size or page.next_page is None:
        return None
    return max(0, -(-(page.total - page.page * size) // size))


def _start_listing_process(provider: Provider, entity_type: str, first: Page, *, depth: int, newest_first: bool,
                           log_level: str | None) -> ListingProcess | None:
    """A process listing from the page after the hand-over, when the listing is long and
    the provider can be rebuilt elsewhere; None to keep listing in this process (also when
    the process cannot be started: the thread does the same work, only slower)."""
    if not isinstance(provider, ListsInAnotherProcess):
        return None
    left = _pages_left(provider, first)
    if left is None or left < HANDOVER_PAGES + PROCESS_MIN_PAGES:
        return None
    factory = provider.listing_factory()
    if factory is None:
        return None
    try:
        return ListingProcess(factory, entity_type, first.page + HANDOVER_PAGES + 1, depth=depth,
                              newest_first=newest_first, log_level=log_level, on_stats=provider.add_stats)
    except Exception as exc:
        log.warning("listing process could not start; listing in this process", error=error_message(exc))
        return None


def read_ahead(provider: Provider, entity_type: str, start_page: int, *, depth: int, newest_first: bool = False,
               log_level: str | None = None) -> Generator[Page, None, None]:
    """The listing's pages from ``start_page``, read ahead ``depth`` pages (0: none): in
    another process for a long listing when the provider allows it, else in a thread."""
    pages = provider.iter_pages(entity_type, start_page, newest_first=newest_first)
    if depth <= 0:
        yield from pages
        return
    first = next(pages, None)
    if first is None:
        return
    remote = _start_listing_process(provider, entity_type, first, depth=depth, newest_first=newest_first,
                                    log_level=log_level)
    if remote is None:
        yield first
        yield from prefetched(pages, depth)
        return
    handover = first.page + HANDOVER_PAGES + 1  # the child's first page
    try:
        next_page = first.next_page
        yield first
        for page in prefetched(itertools.islice(pages, HANDOVER_PAGES), depth):
            next_page = page.next_page
            yield page
        close = getattr(pages, "close", None)
        if close is not None:
            close()
        if next_page is None:
            return  # the listing got shorter while it was read: nothing left for the child
        if next_page != handover:
            raise ProviderError(f"a paginação do CRM saltou da página {next_page - 1} para {handover}")
        log.debug("listing handed over to another process", entity=entity_type, page=handover)
        yield from remote.pages()
    finally:
        remote.close()
