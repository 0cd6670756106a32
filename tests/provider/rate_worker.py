"""Run as a separate process by test_rate_limit.py: N list requests through the provider,
starting at a given wall-clock time so two workers overlap. Prints the transport counters."""

from __future__ import annotations

import json
import sys
import time

from crmsync.providers.gestaoclick import GestaoClickProvider
from crmsync.settings import Settings


def main() -> None:
    base_url, data_dir, ratelimit_url, access, secret, count, start_at = sys.argv[1:8]
    settings = Settings(data_dir=data_dir, ratelimit_url=ratelimit_url)
    # The documented 3 req/s and 30,000/day, spaced at 75% of the limit (the provider's knob for
    # a jittery network: a loaded test machine is one, and at the default 96.5% a 35 ms delay
    # of one request put 4 arrivals in one second). Two processes that did not share the
    # bucket would still send 4.5 req/s together: the test proves the sharing all the same.
    provider = GestaoClickProvider(
        base_url,
        credentials={"access_token": access, "secret_access_token": secret},
        settings=settings,
        pace_factor=0.75,
    )
    time.sleep(max(0.0, float(start_at) - time.time()))
    for i in range(int(count)):
        provider.list_page("cliente", 1 + i % 2)
    print(json.dumps(provider.stats()))
    provider.close()


if __name__ == "__main__":
    main()
