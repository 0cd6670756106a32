"""Issue #20: a burst of simultaneous requests with valid store keys gets only 200s and
503s (with Retry-After and a JSON detail), never a 500 and never a hang.

Today's failure: the key look-up kept its pooled connection while the request waited for a
worker thread; with ~100 requests at once every thread ended up waiting on the pool (500
"QueuePool limit ... timed out" after 30 s, the rest no answer at all). Each client here has
its own connection and they all start together (a barrier); the deadline on each client is
generous (a hang, not slowness, is what it catches)."""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path

import httpx
import pytest

from .server import serve

CLIENT_DEADLINE = httpx.Timeout(120.0)


def _burst(
    base: str, keys: list[str], n: int, path: str = "/api/clientes?limit=1"
) -> tuple[Counter[int], list[str], list[httpx.Response]]:
    barrier = threading.Barrier(n)
    statuses: Counter[int] = Counter()
    failures: list[str] = []
    refused: list[httpx.Response] = []
    lock = threading.Lock()

    def one(i: int) -> None:
        key = keys[i % len(keys)]
        with httpx.Client(base_url=base, timeout=CLIENT_DEADLINE, headers={"Authorization": f"Bearer {key}"}) as http:
            barrier.wait()
            try:
                r = http.get(path)
            except httpx.HTTPError as exc:
                with lock:
                    failures.append(type(exc).__name__)
                return
            with lock:
                statuses[r.status_code] += 1
                if r.status_code != 200:
                    refused.append(r)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return statuses, failures, refused


@pytest.mark.parametrize("n", [100, 300])
def test_burst_of_valid_keys_gets_200_or_quick_503(tmp_path: Path, n: int) -> None:
    with serve(tmp_path, stores=4) as served:
        statuses, failures, refused = _burst(served.base, served.keys, n)
        after = httpx.get(
            f"{served.base}/api/clientes?limit=1",
            headers={"Authorization": f"Bearer {served.keys[0]}"},
            timeout=CLIENT_DEADLINE,
        )
    assert failures == [], f"requests without an answer: {Counter(failures)}"
    assert set(statuses) <= {200, 503}, f"{statuses}; log:\n{served.log.read_text()[-3000:]}"
    assert statuses[200] > 0
    for r in refused:
        assert r.headers.get("Retry-After", "").isdigit()
        assert isinstance(r.json()["detail"], str)
    assert after.status_code == 200  # and the server is still fine afterwards
