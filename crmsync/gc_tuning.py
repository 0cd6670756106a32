"""The cyclic garbage collector's settings for the long-running processes (`serve`, `worker`).

Why: under load CPython's cyclic collector took 8.5% of a busy `serve` process's CPU
(`bench/api_load.py`, 300 clients, timed with `gc.callbacks`: 8 full collections of ~95 ms in
30 s; 2.3% with the settings below, docs/benchmarks.md). A request or a push allocates
thousands of container objects (ORM states and rows, pydantic values, ASGI scopes), so the
youngest generation filled every few hundred allocations, and every full collection walked
every object the process made at start (the app and its routes and models, the ORM's mappers,
the settings, the imported modules), none of which ever becomes garbage.

Two standard remedies, the ones pre-fork servers use: `gc.freeze()` once the process is set
up, which moves those objects to a permanent generation the collector no longer walks, and a
larger first threshold, so collections are fewer and each finds less alive (most per-request
objects are freed by reference counting before any collection sees them). Cycles are still
collected, a little later; memory stays bounded.
"""

from __future__ import annotations

import gc

# Allocations (minus deallocations) of container objects between two young collections
# (CPython's default: 700); then how many young collections per middle one, and middle per old.
YOUNG_THRESHOLD = 20_000
MIDDLE_EVERY = 20
OLD_EVERY = 20


def tune_after_startup() -> None:
    """Call once the process has imported and built what it keeps for its whole life."""
    gc.collect()  # what start-up left as garbage is freed, not frozen
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, MIDDLE_EVERY, OLD_EVERY)
