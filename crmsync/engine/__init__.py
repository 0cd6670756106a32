"""Sync engine: push, pull, sync, deletes and conflicts over the pure cores.

Public API (docs/ENGINE_CONTRACT.md): :class:`SyncEngine`, :class:`RunOptions` and the
result shapes :class:`PushResult`, :class:`PushSummary`, :class:`PullResult`,
:class:`SyncResult`.
"""

from crmsync.engine.results import PullResult, PushResult, PushSummary, RunOptions, SyncResult
from crmsync.engine.sync import SyncEngine

__all__ = ["PullResult", "PushResult", "PushSummary", "RunOptions", "SyncEngine", "SyncResult"]
