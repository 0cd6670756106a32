"""One provider used from several threads at once (the pull's read-ahead thread listing pages
while the engine calls ``get``): the pacing bucket and the daily quota counter stay exact.

Counted by the sandbox itself: no second in which it saw more than the limit, no 429, and
the quota our side reserved equals the requests the sandbox received.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from crmsync.engine.pull import prefetched
from crmsync.providers.gestaoclick import GestaoClickProvider
from crmsync.sandbox.server import SandboxServer

LIMIT = 3.0


def test_listing_thread_and_gets_stay_under_the_limit(make_provider: Callable[..., GestaoClickProvider]) -> None:
    with SandboxServer(rate_limit=LIMIT, daily_quota=30000, fault_rate=0.0, seed=1, seed_records=450) as sb:
        provider = make_provider(sb.base_url, rate_limit_per_second=LIMIT, daily_quota=30000)
        errors: list[BaseException] = []
        gets = 0

        def getter() -> None:
            nonlocal gets
            try:
                for ext_id in ("1", "2", "3", "4"):
                    provider.get("cliente", ext_id)
                    gets += 1
            except BaseException as exc:  # surfaced below, not lost in the thread
                errors.append(exc)

        other = threading.Thread(target=getter)
        other.start()
        listed = 0
        pages = 0
        for page in prefetched(provider.iter_pages("cliente"), depth=2):
            listed += len(page.records)
            pages += 1
            provider.get("cliente", page.records[0].external_id)  # the engine's own calls
            gets += 1
        other.join(timeout=60)

        assert not errors, errors
        assert listed == 450
        company = sb.stats()["companies"]["empresa-1"]
        sent = pages + gets
        assert company["requests_total"] == sent
        assert company["rate_limited"] == 0
        assert company["max_requests_in_any_1s_window"] <= LIMIT, company
        assert provider.requests_used_today() == sent
        stats = provider.stats()
        assert stats["requests_sent"] == sent
