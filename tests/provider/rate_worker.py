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
    provider = GestaoClickProvider(
        base_url, credentials={"access_token": access, "secret_access_token": secret}, settings=settings
    )  # the documented 3 req/s and 30,000/day
    time.sleep(max(0.0, float(start_at) - time.time()))
    for i in range(int(count)):
        provider.list_page("cliente", 1 + i % 2)
    print(json.dumps(provider.stats()))
    provider.close()


if __name__ == "__main__":
    main()
