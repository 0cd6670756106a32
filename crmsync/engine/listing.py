"""When and how a full scan reads pages ahead of the engine that applies them.

A full scan costs two kinds of work per page: the provider's (HTTP round trip, JSON, mapping
to canonical records) and the engine's (matching, merging, one database transaction). Done
one after the other they add up; done at the same time the scan takes about as long as the
slower of the two. `read_ahead` picks one of the readers of `crmsync.providers.read_ahead`
per listing:

* another process, for a long listing from a provider that can be rebuilt there: mapping
  then runs on the other core. A process takes a moment to start, so the first
  `HANDOVER_PAGES` pages are still read here while it does, and short listings never start
  one;
* else a background thread, which overlaps the HTTP wait and SQLite's work while mapping
  shares the interpreter lock with the engine.

Either way pages come out in order, at most ``depth`` ahead, and a listing error is raised
at the point the failed page would have been applied, so a page checkpoint means exactly
what it means without reading ahead.
"""

from __future__ import annotations

import itertools
from collections.abc import Generator

import structlog

from crmsync.providers.base import Page, Provider, ProviderError, error_message
from crmsync.providers.read_ahead import ListingProcess, ListsInAnotherProcess, prefetched

__all__ = ["HANDOVER_PAGES", "PROCESS_MIN_PAGES", "read_ahead"]

log = structlog.get_logger("crmsync.engine.listing")

# Pages read in this process while the listing process starts (well under a second to
# import a provider; 40 pages is about that long at the engine's pace with no rate limit).
HANDOVER_PAGES = 40
# Pages that must be left after the hand-over for a listing process to be worth starting.
PROCESS_MIN_PAGES = 100


def _pages_left(provider: Provider, page: Page) -> int | None:
    """Pages after ``page``, from the listing's total when the provider reports it."""
    size = provider.capabilities.page_size
    if page.total is None or not size or page.next_page is None:
        return None
    return max(0, -(-(page.total - page.page * size) // size))


def _start_listing_process(
    provider: Provider, entity_type: str, first: Page, *, depth: int, newest_first: bool, log_level: str | None
) -> ListingProcess | None:
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
        return ListingProcess(
            factory,
            entity_type,
            first.page + HANDOVER_PAGES + 1,
            depth=depth,
            newest_first=newest_first,
            log_level=log_level,
            on_stats=provider.add_stats,
        )
    except Exception as exc:
        log.warning("listing process could not start; listing in this process", error=error_message(exc))
        return None


def read_ahead(
    provider: Provider,
    entity_type: str,
    start_page: int,
    *,
    depth: int,
    newest_first: bool = False,
    log_level: str | None = None,
) -> Generator[Page, None, None]:
    """The listing's pages from ``start_page``, read ahead ``depth`` pages (0: none): in
    another process for a long listing when the provider allows it, else in a thread."""
    pages = provider.iter_pages(entity_type, start_page, newest_first=newest_first)
    if depth <= 0:
        yield from pages
        return
    first = next(pages, None)
    if first is None:
        return
    remote = _start_listing_process(
        provider, entity_type, first, depth=depth, newest_first=newest_first, log_level=log_level
    )
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
