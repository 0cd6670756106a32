"""The state of one pull run (one entity), shared by the pull's modules."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from crmsync.engine.results import PullResult
from crmsync.matching import ExactIndex, MatchIndex
from crmsync.providers.base import RemoteRecord

__all__ = ["_PullRun"]


@dataclass
class _PullRun:
    entity_type: str
    result: PullResult
    exact: ExactIndex | None = None
    fuzzy: MatchIndex | None = None
    dismissed: set[str] = field(default_factory=set)
    creates: list[tuple[RemoteRecord, list[tuple[str, str]]]] = field(default_factory=list)  # with unique keys
    # Local ids to merge by a staged push: a merge that must write to the CRM is handed to
    # one after the transaction (pull, pull_one and a venda's references after each chunk,
    # a duplicate's review after its decision).
    deferred: list[int] = field(default_factory=list)
    temp_ids: int = 0
    max_seen: datetime | None = None
    oldest_failed: datetime | None = None
    failed_without_time: bool = False
