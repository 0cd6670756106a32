"""An in-process CRM (the MemoryProvider, a real provider) that, on every call a sync makes
record by record, tries to take SQLite's write lock from another connection without
waiting: if the engine holds a transaction open across the call, the lock is taken and the
call is recorded in `locked_during`. Listing is not probed: pages are read ahead in another
thread while an earlier page is applied, which is no lock *across* a call."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import Any

from crmsync.providers.base import RemoteRecord
from crmsync.providers.memory import MemoryProvider


class LockProbeCrm(MemoryProvider):
    database_path: str = ""
    locked_during: list[str]

    def __post_init__(self) -> None:
        super().__post_init__()
        self.locked_during = []

    def _probe(self, call: str) -> None:
        if not self.database_path:
            return
        conn = sqlite3.connect(self.database_path, timeout=0, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("ROLLBACK")
        except sqlite3.OperationalError:
            self.locked_during.append(call)
        finally:
            conn.close()

    def get(self, entity_type: str, external_id: str) -> RemoteRecord:
        self._probe(f"get {entity_type}")
        return super().get(entity_type, external_id)

    def create(self, entity_type: str, data: Mapping[str, Any]) -> RemoteRecord:
        self._probe(f"create {entity_type}")
        return super().create(entity_type, data)

    def update(
        self, entity_type: str, external_id: str, data: Mapping[str, Any], current: RemoteRecord | None = None
    ) -> RemoteRecord:
        self._probe(f"update {entity_type}")
        return super().update(entity_type, external_id, data, current)

    def delete(self, entity_type: str, external_id: str) -> None:
        self._probe(f"delete {entity_type}")
        super().delete(entity_type, external_id)

    def deactivate(self, entity_type: str, external_id: str) -> RemoteRecord:
        self._probe(f"deactivate {entity_type}")
        return super().deactivate(entity_type, external_id)

    def find_by_keys(self, entity_type: str, data: Mapping[str, Any]) -> RemoteRecord | None:
        self._probe(f"find_by_keys {entity_type}")
        return super().find_by_keys(entity_type, data)
