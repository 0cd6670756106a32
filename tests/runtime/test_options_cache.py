"""`runtime_options()` is asked by every job: parsed once per set of `CRMSYNC_*` variables
(a pydantic-settings parse each time was ~6% of a busy `serve` process's CPU), and a changed
variable is still seen on the next call."""

from __future__ import annotations

import pytest

from crmsync.runtime.options import runtime_options


def test_the_options_are_parsed_once_and_follow_a_changed_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRMSYNC_FAIR_RETRY_SECONDS", "7.5")
    first = runtime_options()
    assert first.fair_retry_seconds == 7.5
    assert runtime_options() is first  # not parsed again
    monkeypatch.setenv("CRMSYNC_FAIR_RETRY_SECONDS", "2.5")
    assert runtime_options().fair_retry_seconds == 2.5
    monkeypatch.delenv("CRMSYNC_FAIR_RETRY_SECONDS")
    assert runtime_options().fair_retry_seconds == 1.0
