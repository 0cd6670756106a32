"""Always-on runtime: the queue and its jobs, workers, the scheduler, locks, the breaker, and
the automatic push after local writes.

Importing the package declares every job on the queue (`crmsync.runtime.jobs`), so any
process that enqueues or consumes has the same tasks. `EmbeddedRuntime` is loaded on first
use: it pulls in the Huey consumer and the scheduler, which only `serve`/`worker` need
(start-up time of the CLI and the API).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from crmsync.runtime.autopush import defer, install_listeners, uninstall_listeners, wait_dispatched

if TYPE_CHECKING:
    from crmsync.runtime.embedded import EmbeddedRuntime

__all__ = ["EmbeddedRuntime", "defer", "install_listeners", "uninstall_listeners", "wait_dispatched"]


def __getattr__(name: str) -> Any:
    if name == "EmbeddedRuntime":
        from crmsync.runtime.embedded import EmbeddedRuntime  # lazy: see the module docstring

        return EmbeddedRuntime
    raise AttributeError(name)
