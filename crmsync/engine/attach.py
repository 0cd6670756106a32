"""First attach by index (#18 item 2): one listing of the CRM instead of a look-up per row.

A store attached to a CRM account that already holds its customers (the usual case: an ERP
and a CRM used apart for years) used to cost two look-ups per customer, and a new record
three requests where one create would do. When a push meets more than a handful of
unlinked rows (``ATTACH_INDEX_MIN_ROWS``), the CRM is listed once, its records are indexed
by their unique keys in memory, and each unlinked row is decided against the index: the
record that holds its keys (linked, merged with the listed copy, no GET), or a create with
no look-up first (the fresh listing is the evidence). Record-by-record look-ups stay for
single pushes and for retries after a lost answer.

A listing that fails half-way builds no index (:func:`build_index` raises), so nothing is
decided, let alone created, from a partial one: the caller falls back to per-row look-ups.

Memory: a 100,000-record account is held as key -> position maps and each record's data as
one compact JSON string, decoded only for the record a row is linked to.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from crmsync import fastjson
from crmsync.matching import exact_value
from crmsync.providers.base import Provider, RemoteRecord

__all__ = ["ATTACH_INDEX_MIN_ROWS", "ATTACH_KEYS", "AttachDecision", "RemoteIndex", "build_index", "decide"]

# Unlinked rows from which a push lists the CRM once instead of looking each row up.
ATTACH_INDEX_MIN_ROWS = 20
# The keys a record is found by, in the providers' own look-up order (documents first).
ATTACH_KEYS: dict[str, tuple[str, ...]] = {"cliente": ("cpf", "cnpj", "email"), "produto": ("codigo",)}


def key_pairs(entity_type: str, data: dict[str, Any], ignored: frozenset[str]) -> list[tuple[str, str]]:
    """The record's unique keys as the index compares them (placeholders and the store's
    ignored values are no keys)."""
    out = []
    for key in ATTACH_KEYS.get(entity_type, ()):
        value = exact_value(key, data.get(key), ignored)
        if value is not None:
            out.append((key, value))
    return out


@dataclass
class RemoteIndex:
    """The CRM's unlinked records of one entity, by unique key, from one complete listing."""

    entity_type: str
    ignored: frozenset[str] = frozenset()
    pages: int = 0
    listed: int = 0
    _maps: dict[str, dict[str, int]] = field(default_factory=dict)
    _ids: list[str] = field(default_factory=list)
    _rows: list[bytes] = field(default_factory=list)  # compact JSON of (data, modified_at, version)
    _claimed: set[int] = field(default_factory=set)

    def add(self, record: RemoteRecord) -> None:
        pos = len(self._ids)
        self._ids.append(record.external_id)
        stamp = record.modified_at.isoformat() if record.modified_at is not None else None
        self._rows.append(fastjson.dumps([record.data, stamp, record.version]).encode())
        for key, value in key_pairs(self.entity_type, record.data, self.ignored):
            known = self._maps.setdefault(key, {})
            known.setdefault(value, pos)  # several records with one key: the first listed

    def add_created(self, record: RemoteRecord) -> None:
        """A record this run created: a later row with one of its keys is a duplicate."""
        self.add(record)
        pos = len(self._ids) - 1
        self._claimed.add(pos)
        for key, value in key_pairs(self.entity_type, record.data, self.ignored):
            self._maps.setdefault(key, {})[value] = pos

    def add_taken(self, record: RemoteRecord) -> None:
        """A record already linked to another row: only its keys are kept, so a row holding
        one is a possible duplicate for a person, never a second record in the CRM."""
        pos = len(self._ids)
        self._ids.append(record.external_id)
        self._rows.append(b"")
        self._claimed.add(pos)
        for key, value in key_pairs(self.entity_type, record.data, self.ignored):
            self._maps.setdefault(key, {}).setdefault(value, pos)

    def __len__(self) -> int:
        return len(self._ids)

    def position(self, data: dict[str, Any]) -> int | None:
        """Where the record holding this row's keys sits (None: no record holds them)."""
        return self.position_of(key_pairs(self.entity_type, data, self.ignored))

    def position_of(self, pairs: list[tuple[str, str]]) -> int | None:
        for key, value in pairs:
            pos = self._maps.get(key, {}).get(value)
            if pos is not None:
                return pos
        return None

    def is_claimed(self, pos: int) -> bool:
        return pos in self._claimed

    def record(self, pos: int) -> RemoteRecord:
        data, stamp, version = fastjson.loads(self._rows[pos])
        modified = datetime.fromisoformat(stamp) if stamp else None
        return RemoteRecord(self._ids[pos], data, modified, version or "")

    def find(self, data: dict[str, Any]) -> RemoteRecord | None:
        """The listed record holding this row's keys, once: a second row with the same key
        is not given it (a person must look at two local rows with one key)."""
        pos = self.position(data)
        if pos is None:
            return None
        if pos in self._claimed:
            raise ValueError(
                f"o registro {self._ids[pos]} do CRM tem a mesma chave única de outro registro local "
                "desta sincronização: possível duplicata, revise os dados"
            )
        self._claimed.add(pos)
        return self.record(pos)


def build_index(
    provider: Provider,
    entity_type: str,
    *,
    linked: Iterable[str] = (),
    ignored: frozenset[str] = frozenset(),
    progress: Callable[[int, int], None] | None = None,
) -> RemoteIndex:
    """List every record of the entity once and index it (those ``linked`` already by
    their keys only). Any error of the listing propagates: an index is complete or there
    is none."""
    taken = set(linked)
    index = RemoteIndex(entity_type, ignored)
    for page in provider.iter_pages(entity_type):
        index.pages += 1
        for record in page.records:
            index.listed += 1
            if record.external_id in taken:
                index.add_taken(record)
            else:
                index.add(record)
        if progress is not None:
            progress(index.pages, index.listed)
    return index


@dataclass(frozen=True)
class AttachDecision:
    """What a first attach does with one unlinked row: link it to a listed record, or create."""

    entity_id: int
    action: str  # "link" | "create" | "duplicata" (a key an earlier row of this run holds)
    external_id: str | None = None


def decide(rows: Iterable[tuple[int, dict[str, Any]]], index: RemoteIndex) -> Iterator[AttachDecision]:
    """The pure decision of a first attach, row by row (no I/O): the plan a dry run prints,
    and what the apply step does. A key an earlier row holds (linked or created by this run)
    is a possible duplicate for a person, never a second record."""
    seen: set[tuple[str, str]] = set()
    for entity_id, data in rows:
        pairs = key_pairs(index.entity_type, data, index.ignored)
        if any(pair in seen for pair in pairs):
            yield AttachDecision(entity_id, "duplicata")
            continue
        seen.update(pairs)
        pos = index.position_of(pairs)
        if pos is None or pos in index._claimed:
            yield AttachDecision(entity_id, "create")
        else:
            yield AttachDecision(entity_id, "link", index._ids[pos])
