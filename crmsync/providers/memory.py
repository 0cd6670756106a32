"""An in-memory provider: a complete, honest implementation of the Provider protocol.

Why it exists: the engine, its tests, demos and property tests need an external system that
behaves like a real one (ids it assigns, modification times from its own clock, versions
that change on every write, paging, unique-key look-ups, fields it does not have, and
failures) without a network. It is not a mock: it keeps state and enforces the protocol.

Besides the protocol it offers "panel" methods (`panel_create`, `panel_update`,
`panel_delete`) that stand for a user editing records in the CRM's own screens; those do
not count as calls made by the engine.

Faults: :meth:`fail_next` makes the next N calls (optionally only of some methods) raise a
given error, either before the call takes effect or, with ``after=True``, after it took
effect, which is how an answer lost on the way back (a create that happened but whose
response never arrived) looks to the caller.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from crmsync.matching import exact_value
from crmsync.model.canonical import canonical_hash, canonicalize
from crmsync.providers.base import (
    Capabilities,
    NotFoundError,
    Page,
    ProviderError,
    RemoteRecord,
    RetriableError,
    ValidationError,
)

__all__ = ["MemoryProvider"]

# Unique keys the provider can search by, in the order it tries them.
FIND_KEYS: dict[str, tuple[str, ...]] = {
    "cliente": ("email", "cpf", "cnpj"),
    "produto": ("codigo", "codigo_barra"),
    "venda": ("codigo",),
}


@dataclass
class _Stored:
    data: dict[str, Any]
    modified_at: datetime
    revision: int
    created_seq: int


@dataclass
class _Fault:
    remaining: int
    error: Callable[[str], ProviderError]
    methods: frozenset[str] | None
    after: bool
    skip: int = 0


@dataclass
class MemoryProvider:
    """In-memory external system.

    ``lacks``: per entity, fields this system does not have (they are never stored nor
    returned, as with a CRM that has no such column). ``clock``: returns the provider's
    "now" (tests skew it). ``page_size`` and ``sort_by_modification`` shape the listing.
    """

    key: str = "memory"
    page_size: int = 100
    sort_by_modification: bool = False
    lacks: dict[str, set[str]] = field(default_factory=dict)
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    timezone: str = "UTC"
    capabilities: Capabilities = field(init=False)
    calls: dict[str, int] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self.capabilities = Capabilities(
            page_size=self.page_size,
            sort_by_modification=self.sort_by_modification,
            changed_since_filter=False,
            webhooks=False,
            rate_limit_per_second=1e9,
            timezone=self.timezone,
        )
        self._records: dict[str, dict[str, _Stored]] = {"cliente": {}, "produto": {}, "venda": {}}
        self._ids = itertools.count(1000)
        self._seq = itertools.count(1)
        self._faults: list[_Fault] = []
        self._lock = threading.RLock()
        self.clock_offset = timedelta(0)

    # ------------------------------------------------------------------ fault injection

    def fail_next(
        self,
        n: int = 1,
        error: type[ProviderError] | Callable[[str], ProviderError] = RetriableError,
        *,
        methods: set[str] | None = None,
        after: bool = False,
        skip: int = 0,
    ) -> None:
        """The next ``n`` calls (of ``methods``, default any) raise ``error``; with
        ``after=True`` the call takes effect first and then raises (a lost answer); ``skip``
        lets that many matching calls succeed first."""
        self._faults.append(_Fault(n, error, frozenset(methods) if methods else None, after, skip))

    def clear_faults(self) -> None:
        """Forget every fault still waiting to fire."""
        self._faults.clear()

    def _fault_for(self, method: str, after: bool) -> ProviderError | None:
        for fault in self._faults:
            matches = fault.methods is None or method in fault.methods
            if fault.remaining > 0 and fault.after == after and matches:
                if fault.skip > 0:
                    fault.skip -= 1
                    continue
                fault.remaining -= 1
                if fault.remaining == 0:
                    self._faults.remove(fault)
                return fault.error(f"falha injetada em {method}")
        return None

    def _call(self, method: str) -> None:
        self.calls[method] = self.calls.get(method, 0) + 1
        err = self._fault_for(method, after=False)
        if err is not None:
            raise err

    def _after(self, method: str) -> None:
        err = self._fault_for(method, after=True)
        if err is not None:
            raise err

    @property
    def write_calls(self) -> int:
        """Number of write calls the engine made (create, update, delete, deactivate)."""
        return sum(self.calls.get(m, 0) for m in ("create", "update", "delete", "deactivate"))

    # ------------------------------------------------------------------ internals

    def now(self) -> datetime:
        return self.clock() + self.clock_offset

    def _table(self, entity_type: str) -> dict[str, _Stored]:
        if entity_type not in self._records:
            raise ValidationError(f"entidade não suportada: {entity_type}")
        return self._records[entity_type]

    def _full(self, entity_type: str, data: Mapping[str, Any]) -> dict[str, Any]:
        lacking = self.lacks.get(entity_type, set())
        try:
            canon = canonicalize(entity_type, dict(data))
        except ValueError as exc:
            raise ValidationError(f"dados inválidos: {exc}") from exc
        return {k: v for k, v in canon.items() if k not in lacking}

    def _record(self, ext_id: str, stored: _Stored) -> RemoteRecord:
        data = {k: (list(v) if isinstance(v, list) else v) for k, v in stored.data.items()}
        return RemoteRecord(
            external_id=ext_id,
            data=data,
            modified_at=stored.modified_at,
            version=f"{stored.revision}:{canonical_hash(stored.data)[:12]}",
            raw=dict(stored.data),
        )

    def _insert(self, entity_type: str, data: Mapping[str, Any]) -> RemoteRecord:
        canon = self._full(entity_type, data)
        ext_id = f"m{next(self._ids)}"
        stored = _Stored(canon, self.now(), 1, next(self._seq))
        self._table(entity_type)[ext_id] = stored
        return self._record(ext_id, stored)

    def _modify(self, entity_type: str, external_id: str, data: Mapping[str, Any]) -> RemoteRecord:
        table = self._table(entity_type)
        stored = table.get(str(external_id))
        if stored is None:
            raise NotFoundError(f"{entity_type} {external_id} não encontrado")
        lacking = self.lacks.get(entity_type, set())
        merged = {**stored.data, **{k: v for k, v in data.items() if k not in lacking}}
        stored.data = self._full(entity_type, merged)
        stored.modified_at = self.now()
        stored.revision += 1
        return self._record(str(external_id), stored)

    # ------------------------------------------------------------------ protocol

    def list_page(self, entity_type: str, page: int = 1, *, newest_first: bool = False) -> Page:
        with self._lock:
            self._call("list_page")
            table = self._table(entity_type)
            if newest_first:
                items = sorted(table.items(), key=lambda kv: (kv[1].modified_at, kv[1].created_seq), reverse=True)
            else:
                items = sorted(table.items(), key=lambda kv: kv[1].created_seq)
            start = (page - 1) * self.page_size
            chunk = items[start : start + self.page_size]
            records = [self._record(ext_id, stored) for ext_id, stored in chunk]
            next_page = page + 1 if start + self.page_size < len(items) else None
            result = Page(
                records=records, page=page, next_page=next_page, total=len(items), fetched_at=datetime.now(UTC)
            )
            self._after("list_page")
            return result

    def iter_pages(self, entity_type: str, start_page: int = 1, *, newest_first: bool = False) -> Iterator[Page]:
        page: int | None = start_page
        while page is not None:
            result = self.list_page(entity_type, page, newest_first=newest_first)
            yield result
            page = result.next_page

    def get(self, entity_type: str, external_id: str) -> RemoteRecord:
        with self._lock:
            self._call("get")
            stored = self._table(entity_type).get(str(external_id))
            if stored is None:
                raise NotFoundError(f"{entity_type} {external_id} não encontrado")
            record = self._record(str(external_id), stored)
            self._after("get")
            return record

    def create(self, entity_type: str, data: Mapping[str, Any]) -> RemoteRecord:
        with self._lock:
            self._call("create")
            record = self._insert(entity_type, data)
            self._after("create")
            return record

    def update(
        self, entity_type: str, external_id: str, data: Mapping[str, Any], current: RemoteRecord | None = None
    ) -> RemoteRecord:
        with self._lock:
            self._call("update")
            record = self._modify(entity_type, external_id, data)
            self._after("update")
            return record

    def delete(self, entity_type: str, external_id: str) -> None:
        with self._lock:
            self._call("delete")
            if self._table(entity_type).pop(str(external_id), None) is None:
                raise NotFoundError(f"{entity_type} {external_id} não encontrado")
            self._after("delete")

    def deactivate(self, entity_type: str, external_id: str) -> RemoteRecord:
        with self._lock:
            self._call("deactivate")
            record = self._modify(entity_type, external_id, {"ativo": False})
            self._after("deactivate")
            return record

    def find_by_keys(self, entity_type: str, data: Mapping[str, Any]) -> RemoteRecord | None:
        with self._lock:
            self._call("find_by_keys")
            lacking = self.lacks.get(entity_type, set())
            for key in FIND_KEYS.get(entity_type, ()):
                value = data.get(key)
                if exact_value(key, value) is None or key in lacking:  # empty or a placeholder
                    continue
                matches = sorted(
                    (s.created_seq, ext_id)
                    for ext_id, s in self._table(entity_type).items()
                    if s.data.get(key) == value
                )
                if matches:
                    ext_id = matches[0][1]
                    return self._record(ext_id, self._table(entity_type)[ext_id])
            return None

    def requests_used_today(self) -> int | None:
        return sum(self.calls.values())

    def close(self) -> None:
        return None

    # ------------------------------------------------------------------ "panel" (a user in the CRM)

    def panel_create(self, entity_type: str, data: Mapping[str, Any]) -> str:
        with self._lock:
            return self._insert(entity_type, data).external_id

    def panel_update(self, entity_type: str, external_id: str, changes: Mapping[str, Any]) -> RemoteRecord:
        with self._lock:
            return self._modify(entity_type, external_id, changes)

    def panel_delete(self, entity_type: str, external_id: str) -> None:
        with self._lock:
            self._table(entity_type).pop(str(external_id), None)

    def panel_get(self, entity_type: str, external_id: str) -> dict[str, Any] | None:
        stored = self._table(entity_type).get(str(external_id))
        return None if stored is None else dict(stored.data)

    def panel_list(self, entity_type: str) -> dict[str, dict[str, Any]]:
        return {ext_id: dict(s.data) for ext_id, s in self._table(entity_type).items()}
