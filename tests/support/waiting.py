"""Waiting on an event, never on the clock: poll until it has happened; the deadline only
bounds a hang (generous, for a loaded machine), it is not what the test checks."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def wait_for(predicate: Callable[[], Any], timeout: float = 60.0, step: float = 0.05, what: str = "") -> Any:
    """Poll until `predicate()` is truthy and return it; an exception counts as not yet (the
    thing polled may not exist yet). Past the deadline: AssertionError with the last answer."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
        except Exception as exc:  # the thing polled may not exist yet
            last = exc
        if last and not isinstance(last, Exception):
            return last
        time.sleep(step)
    raise AssertionError(f"timed out waiting for {what or predicate}: last={last!r}")
