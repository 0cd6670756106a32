"""The page read-ahead helper: order kept, errors raised where the failed page would be,
the reader stops when the consumer does."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from crmsync.providers.base import Page, RetriableError
from crmsync.providers.read_ahead import prefetched


def _pages(n: int, fail_at: int | None = None, produced: list[int] | None = None) -> Iterator[Page]:
    for i in range(1, n + 1):
        if i == fail_at:
            raise RetriableError(f"página {i} falhou")
        if produced is not None:
            produced.append(i)
        yield Page(records=[], page=i, next_page=i + 1 if i < n else None)


def test_order_is_kept() -> None:
    assert [p.page for p in prefetched(_pages(7), depth=2)] == list(range(1, 8))
    assert [p.page for p in prefetched(_pages(3), depth=0)] == [1, 2, 3]


def test_error_is_raised_after_the_pages_before_it() -> None:
    seen: list[int] = []
    with pytest.raises(RetriableError, match="página 4"):
        for page in prefetched(_pages(9, fail_at=4), depth=2):
            seen.append(page.page)
    assert seen == [1, 2, 3]


def test_reader_stops_when_consumer_stops() -> None:
    produced: list[int] = []
    before = threading.active_count()
    for page in prefetched(_pages(1000, produced=produced), depth=2):
        if page.page == 3:
            break
    assert len(produced) <= 3 + 2 + 1
    assert threading.active_count() <= before
