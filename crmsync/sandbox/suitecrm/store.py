"""SQLite-backed bean store of the SuiteCRM sandbox.

One table for every module: the answered attributes as JSON in ``body`` plus the columns the
API filters and sorts on most (``date_modified`` in SuiteCRM's database form, ``deleted``), so
a changed-since page over 20,000 contacts is an index walk. Other attributes are filtered and
sorted through ``json_extract``. One connection guarded by a lock: uvicorn runs endpoint work
in a thread pool and tests edit the store directly "from the panel" from their own thread.

The quirks of the reference live here:
- ``date_modified`` is kept cut to the minute (unless ``stamp_seconds``), so a filter with
  ``gt`` on the last stamp read misses edits made later in the same minute;
- rows tied on the sort column come back in an order that changes with every write
  (``unstable_ties``), so paging sorted by ``date_modified`` while data changes repeats or
  skips rows across page boundaries;
- deletes are soft: the row keeps ``deleted = 1`` and the API no longer lists or reads it; a
  listing that reaches one anyway (``filter[deleted][eq]=1``) fails with SuiteCRM's 400, as the
  real service reloads every listed bean without its deleted ones.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from crmsync.sandbox.formats import SandboxClock
from crmsync.sandbox.suitecrm.emails import EmailBook
from crmsync.sandbox.suitecrm.errors import SuiteError
from crmsync.sandbox.suitecrm.modules import (
    DEFAULTS,
    MODULES,
    READ_ONLY,
    ModuleSpec,
    as_attribute,
    module_for,
)

DB_FORMAT = "%Y-%m-%d %H:%M:%S"
DATE_FIELDS = ("date_entered", "date_modified")
ADMIN = {"id": "1", "name": "Administrator"}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS beans (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    module TEXT NOT NULL,
    id TEXT NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0,
    date_entered TEXT NOT NULL,
    date_modified TEXT NOT NULL,
    body TEXT NOT NULL,
    UNIQUE (module, id));
CREATE INDEX IF NOT EXISTS ix_beans_mod ON beans (module, deleted, date_modified);
CREATE INDEX IF NOT EXISTS ix_beans_id ON beans (module, deleted, id);
"""

OPERATORS = {"eq": "=", "neq": "<>", "gt": ">", "gte": ">=", "lt": "<", "lte": "<=", "like": "LIKE"}


def parse_stamp(value: str) -> datetime:
    """An ISO-8601 stamp (``2026-01-01T10:00:00+00:00``, ``...Z``) or ``YYYY-MM-DD HH:MM:SS`` -> UTC."""
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)  # SuiteCRM keeps its database in UTC
    return parsed.astimezone(UTC)


def db_stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(DB_FORMAT)


def api_stamp(db_value: str) -> str:
    """``2026-01-01 10:00:00`` -> ``2026-01-01T10:00:00+00:00`` (PHP ``DATE_ATOM``, as the API answers)."""
    return datetime.strptime(db_value, DB_FORMAT).replace(tzinfo=UTC).isoformat()


def _tie_rank(bean_id: str, generation: int) -> int:
    return zlib.crc32(f"{generation}:{bean_id}".encode())


@dataclass
class Condition:
    """One ``filter[field][op]=value``."""

    field: str
    op: str
    value: str


@dataclass
class ListQuery:
    """A parsed listing: conditions, their operator, sort, and the page window (None = all)."""

    conditions: list[Condition] = field(default_factory=list)
    operator: str = "AND"
    sort: str | None = None
    descending: bool = False
    offset: int = 0
    limit: int | None = None


@dataclass
class Page:
    rows: list[dict[str, Any]]
    total: int


class SuiteCrmStore:
    """Beans of every module; thread-safe."""

    def __init__(
        self,
        db_path: str | None,
        clock: SandboxClock,
        custom_fields: dict[str, list[str]] | None = None,
        *,
        stamp_seconds: bool = False,
        unstable_ties: bool = True,
    ) -> None:
        self.clock = clock
        self.custom_fields = {m: list(v) for m, v in (custom_fields or {}).items()}
        self.stamp_seconds = stamp_seconds
        self.unstable_ties = unstable_ties
        self.ignore_on_update: frozenset[str] = frozenset()  # SuiteCrmSandboxConfig.ignore_on_update
        self._lock = threading.RLock()
        self._generation = 0  # bumped by every write: ties reshuffle when data changes
        self._conn = sqlite3.connect(db_path or ":memory:", check_same_thread=False, isolation_level=None)
        self._conn.create_function("tie_rank", 2, _tie_rank, deterministic=True)
        self._conn.executescript(_SCHEMA)
        self.emails = EmailBook(self._conn)

    # ------------------------------------------------------------------ modules
    def spec(self, module: str) -> ModuleSpec:
        found = module_for(module)
        if found is None:
            raise SuiteError(f"Module {module} does not exist")
        return found

    def attributes_of(self, spec: ModuleSpec) -> tuple[str, ...]:
        return spec.all_attributes(self.custom_fields.get(spec.name, []))

    def _check_attributes(self, spec: ModuleSpec, attributes: dict[str, Any]) -> None:
        known = set(self.attributes_of(spec))
        for name, value in attributes.items():
            if name not in known:
                raise SuiteError(f"Property {name} in {spec.object_name} module is invalid")
            if isinstance(value, (dict, list)):
                raise SuiteError(f"Property {name} in {spec.object_name} module must be a scalar value")

    # ------------------------------------------------------------------ time
    def now_db(self) -> str:
        """The current stamp as SuiteCRM saves it for this API user (minute cut by default)."""
        now = self.clock.now_utc().replace(microsecond=0)
        if not self.stamp_seconds:
            now = now.replace(second=0)
        return db_stamp(now)

    def _stamp_from_client(self, value: Any, name: str, spec: ModuleSpec) -> str:
        try:
            moment = parse_stamp(str(value))
        except ValueError as exc:
            raise SuiteError(f"Property {name} in {spec.object_name} module has an invalid date: {value}") from exc
        if not self.stamp_seconds:
            moment = moment.replace(second=0, microsecond=0)
        return db_stamp(moment)

    # ------------------------------------------------------------------ rows
    def _row_to_record(self, row: sqlite3.Row | tuple[Any, ...]) -> dict[str, Any]:
        bean_id, body = row[0], row[1]
        attributes: dict[str, Any] = json.loads(body)
        return {"id": bean_id, **attributes}

    def _build_attributes(
        self,
        spec: ModuleSpec,
        current: dict[str, Any],
        changes: dict[str, Any],
        *,
        date_entered: str,
        date_modified: str,
        deleted: int,
    ) -> dict[str, str]:
        merged = dict(current)
        for name, value in changes.items():
            if name in READ_ONLY or name in DATE_FIELDS:
                continue
            merged[name] = as_attribute(value, currency=name in spec.currency)
        out = {name: merged.get(name, "") for name in self.attributes_of(spec)}
        if spec.computed_name:
            full = " ".join(p for p in (out.get("first_name", ""), out.get("last_name", "")) if p)
            out["name"] = out["full_name"] = full
        for name, value in DEFAULTS.get(spec.name, {}).items():
            if not out.get(name):
                out[name] = value
        if spec.currency:
            # SuiteCRM keeps the US-dollar copy of each amount; the sandbox's currency is the dollar.
            for name in spec.currency:
                if name.endswith("_usdollar"):
                    out[name] = out.get(name.removesuffix("_usdollar"), "")
        for name in ("created_by", "modified_user_id", "assigned_user_id"):
            out[name] = out.get(name) or ADMIN["id"]
        for name in ("created_by_name", "modified_by_name", "assigned_user_name"):
            out[name] = ADMIN["name"]
        out["date_entered"] = api_stamp(date_entered)
        out["date_modified"] = api_stamp(date_modified)
        out["deleted"] = str(deleted)
        return out

    def _client_stamp(self, spec: ModuleSpec, attributes: dict[str, Any], name: str, default: str) -> str:
        """A date the client set on a new bean (SuiteCRM keeps it), else `default`."""
        return self._stamp_from_client(attributes[name], name, spec) if attributes.get(name) else default

    def create(self, module: str, attributes: dict[str, Any], bean_id: str | None = None) -> dict[str, Any]:
        """A new bean (``bean_id`` chosen by the client, else a UUID); 400 if that id exists, even deleted."""
        spec = self.spec(module)
        self._check_attributes(spec, attributes)
        with self._lock:
            new_id = bean_id or str(uuid.uuid4())
            if self._find(spec.name, new_id, include_deleted=True) is not None:
                raise SuiteError(f"Bean {spec.name} with id {new_id} is already exist")
            now = self.now_db()
            modified = self._client_stamp(spec, attributes, "date_modified", now)
            entered = self._client_stamp(spec, attributes, "date_entered", now)
            body = self._build_attributes(spec, {}, attributes, date_entered=entered, date_modified=modified, deleted=0)
            self._conn.execute(
                "INSERT INTO beans (module, id, deleted, date_entered, date_modified, body) VALUES (?, ?, 0, ?, ?, ?)",
                (spec.name, new_id, entered, modified, json.dumps(body, ensure_ascii=False)),
            )
            self._generation += 1
            if body.get("email1"):
                self.emails.set_primary(spec.name, new_id, body["email1"], now)
            return {"id": new_id, **body}

    def bulk_create(self, module: str, records: Iterable[dict[str, Any]]) -> int:
        """Seed many beans in one transaction (dates may be given in ``date_entered/date_modified``)."""
        spec = self.spec(module)
        rows = []
        emails: list[str] = []
        for attributes in records:
            bean_id = str(attributes.pop("id", None) or uuid.uuid4())
            modified = self._client_stamp(spec, attributes, "date_modified", self.now_db())
            entered = self._client_stamp(spec, attributes, "date_entered", modified)
            body = self._build_attributes(spec, {}, attributes, date_entered=entered, date_modified=modified, deleted=0)
            rows.append((spec.name, bean_id, entered, modified, json.dumps(body, ensure_ascii=False)))
            emails.append(str(body.get("email1") or ""))
        with self._lock:
            self._conn.execute("BEGIN")
            self._conn.executemany(
                "INSERT INTO beans (module, id, deleted, date_entered, date_modified, body) VALUES (?, ?, 0, ?, ?, ?)",
                rows,
            )
            self.emails.bulk_primary(
                [(r[0], r[1], email, r[2]) for r, email in zip(rows, emails, strict=True) if email]
            )
            self._conn.execute("COMMIT")
            self._generation += 1
        return len(rows)

    def _find(self, module: str, bean_id: str, *, include_deleted: bool = False) -> tuple[Any, ...] | None:
        sql = "SELECT id, body, deleted, date_entered, date_modified FROM beans WHERE module = ? AND id = ?"
        if not include_deleted:
            sql += " AND deleted = 0"
        row: tuple[Any, ...] | None = self._conn.execute(sql, (module, bean_id)).fetchone()
        return row

    def _not_found(self, spec: ModuleSpec, bean_id: str) -> SuiteError:
        return SuiteError(f"{spec.name} module with id {bean_id} is not found")

    def get(self, module: str, bean_id: str, *, include_deleted: bool = False) -> dict[str, Any]:
        spec = self.spec(module)
        if not bean_id:
            raise SuiteError(f"Module id is empty when trying to get {spec.name}")
        with self._lock:
            row = self._find(spec.name, bean_id, include_deleted=include_deleted)
        if row is None:
            raise self._not_found(spec, bean_id)
        return self._row_to_record(row)

    def update(
        self, module: str, bean_id: str, attributes: dict[str, Any], *, panel: bool = False, api: bool = False
    ) -> dict[str, Any]:
        """PATCH: only the attributes given change; ``date_modified`` moves to now unless given.
        ``email1`` is ignored on a bean that has an address (SuiteCRM 7.14 parses it only when
        the bean has none, see `emails`), unless the edit comes from SuiteCRM's screens (`panel`).
        ``api``: through the API, where ``ignore_on_update`` answers without storing."""
        spec = self.spec(module)
        self._check_attributes(spec, attributes)
        if api and self.ignore_on_update:
            attributes = {k: v for k, v in attributes.items() if k not in self.ignore_on_update}
        with self._lock:
            row = self._find(spec.name, bean_id)
            if row is None:
                raise self._not_found(spec, bean_id)
            if "email1" in attributes and not panel and self.emails.has_addresses(spec.name, bean_id):
                attributes = {k: v for k, v in attributes.items() if k != "email1"}
            current = json.loads(row[1])
            modified = (
                self._stamp_from_client(attributes["date_modified"], "date_modified", spec)
                if attributes.get("date_modified")
                else self.now_db()
            )
            body = self._build_attributes(
                spec, current, attributes, date_entered=row[3], date_modified=modified, deleted=0
            )
            if "email1" in attributes:
                self.emails.set_primary(spec.name, bean_id, body.get("email1", ""), modified)
                body["email1"] = self.emails.email1(spec.name, bean_id)
            self._conn.execute(
                "UPDATE beans SET date_modified = ?, body = ? WHERE module = ? AND id = ?",
                (modified, json.dumps(body, ensure_ascii=False), spec.name, bean_id),
            )
            self._generation += 1
            return {"id": bean_id, **body}

    def set_date_modified(self, module: str, bean_id: str, stamp: str | datetime) -> dict[str, Any]:
        """Panel helper: put a bean's stamp anywhere (tests of watermarks and ties)."""
        spec = self.spec(module)
        moment = stamp if isinstance(stamp, datetime) else parse_stamp(stamp)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        value = db_stamp(moment if self.stamp_seconds else moment.replace(second=0, microsecond=0))
        with self._lock:
            row = self._find(spec.name, bean_id, include_deleted=True)
            if row is None:
                raise self._not_found(spec, bean_id)
            body = json.loads(row[1])
            body["date_modified"] = api_stamp(value)
            self._conn.execute(
                "UPDATE beans SET date_modified = ?, body = ? WHERE module = ? AND id = ?",
                (value, json.dumps(body, ensure_ascii=False), spec.name, bean_id),
            )
            self._generation += 1
            return {"id": bean_id, **body}

    def delete(self, module: str, bean_id: str) -> None:
        """Soft delete (``mark_deleted``): ``deleted = 1`` and a fresh ``date_modified``."""
        spec = self.spec(module)
        if not bean_id:
            raise SuiteError(f"Module id is empty when trying to get {spec.name}")
        with self._lock:
            row = self._find(spec.name, bean_id)
            if row is None:
                raise self._not_found(spec, bean_id)
            body = json.loads(row[1])
            modified = self.now_db()
            body["deleted"] = "1"
            body["date_modified"] = api_stamp(modified)
            self._conn.execute(
                "UPDATE beans SET deleted = 1, date_modified = ?, body = ? WHERE module = ? AND id = ?",
                (modified, json.dumps(body, ensure_ascii=False), spec.name, bean_id),
            )
            self._generation += 1

    def hard_delete(self, module: str, bean_id: str) -> None:
        """Panel helper: the row is gone for good (an admin purging deleted records)."""
        spec = self.spec(module)
        with self._lock:
            self._conn.execute("DELETE FROM beans WHERE module = ? AND id = ?", (spec.name, bean_id))
            self._generation += 1

    # ------------------------------------------------------------------ e-mail relationship
    def email_links(self, module: str, bean_id: str) -> list[dict[str, Any]]:
        """``GET .../{id}/relationships/email_addresses``: the bean's linked addresses."""
        spec = self.spec(module)
        with self._lock:
            if self._find(spec.name, bean_id) is None:
                raise self._not_found(spec, bean_id)
            return self.emails.live(spec.name, bean_id)

    def change_email_link(self, module: str, bean_id: str, email_address_id: str, *, add: bool) -> None:
        """Link (POST) or unlink (DELETE) an address; the bean's ``email1`` follows, its
        ``date_modified`` does not (a relationship change does not save the bean)."""
        spec = self.spec(module)
        with self._lock:
            row = self._find(spec.name, bean_id)
            if row is None:
                raise self._not_found(spec, bean_id)
            if "email1" in self.ignore_on_update:
                return  # a CRM that answers but does not store e-mail changes, by any route
            if add:
                if not self.emails.exists(email_address_id):
                    raise SuiteError(f"EmailAddresses module with id {email_address_id} is not found")
                self.emails.link(spec.name, bean_id, email_address_id)
            elif not self.emails.unlink(spec.name, bean_id, email_address_id):
                raise SuiteError(f"Module with {email_address_id} id is not related to {spec.object_name}")
            body = json.loads(row[1])
            body["email1"] = self.emails.email1(spec.name, bean_id)
            self._conn.execute(
                "UPDATE beans SET body = ? WHERE module = ? AND id = ?",
                (json.dumps(body, ensure_ascii=False), spec.name, bean_id),
            )
            self._generation += 1

    # ------------------------------------------------------------------ listing
    def _column(self, spec: ModuleSpec, name: str, use: str = "Filter") -> str:
        if name in ("id", "deleted", "date_entered", "date_modified"):
            return name
        if name not in self.attributes_of(spec):
            raise SuiteError(f"{use} field {name} in {spec.object_name} module is not found")
        return f"json_extract(body, '$.{name}')"

    def _condition_sql(self, spec: ModuleSpec, cond: Condition) -> tuple[str, Any]:
        column = self._column(spec, cond.field)
        op = OPERATORS.get(cond.op.lower())
        if op is None:
            raise SuiteError(f"Filter operator {cond.op} is invalid")
        value: Any = cond.value
        if cond.field in DATE_FIELDS:
            try:
                value = db_stamp(parse_stamp(cond.value))
            except ValueError as exc:
                raise SuiteError(f"Filter field {cond.field} has an invalid date: {cond.value}") from exc
        elif cond.field == "deleted":
            value = 1 if str(cond.value).strip() in ("1", "true") else 0
        return f"{column} {op} ?", value

    def _where(self, spec: ModuleSpec, query: ListQuery, include_deleted: bool = False) -> tuple[str, list[Any]]:
        parts: list[str] = []
        params: list[Any] = []
        conditions = list(query.conditions)
        if not include_deleted and not any(c.field == "deleted" for c in conditions):
            # SuiteCRM appends ``deleted = 0`` to the *same* operator list, so with
            # ``filter[operator]=or`` deleted rows that match another condition come back too.
            conditions.append(Condition("deleted", "eq", "0"))
        for cond in conditions:
            sql, value = self._condition_sql(spec, cond)
            parts.append(sql)
            params.append(value)
        joiner = " OR " if query.operator == "OR" else " AND "
        if not parts:
            return "module = ?", [spec.name]
        return f"module = ? AND ({joiner.join(parts)})", [spec.name, *params]

    def list_page(self, module: str, query: ListQuery, *, include_deleted: bool = False) -> Page:
        """One page as the V8 API lists it; ``include_deleted`` is the legacy v4_1 ``deleted=1`` listing."""
        spec = self.spec(module)
        where, params = self._where(spec, query, include_deleted)
        direction = "DESC" if query.descending else "ASC"
        if query.sort is None:
            order = "seq ASC"
        elif query.sort == "id":
            order = f"id {direction}"
        else:
            column = self._column(spec, query.sort, "Sort")
            tie = "tie_rank(id, ?)" if self.unstable_ties else "id"
            order = f"{column} {direction}, {tie}"
        with self._lock:
            total = int(self._conn.execute(f"SELECT COUNT(*) FROM beans WHERE {where}", params).fetchone()[0])
            order_params: list[Any] = [self._generation] if "tie_rank" in order else []
            limit = -1 if query.limit is None else query.limit
            rows = self._conn.execute(
                f"SELECT id, body FROM beans WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?",
                [*params, *order_params, limit, query.offset],
            ).fetchall()
        records = [self._row_to_record(r) for r in rows]
        for record in records:
            if record.get("deleted") == "1" and not include_deleted:
                # ModuleService::getRecords reloads each listed bean with getBeanSafe, which skips
                # deleted rows: a page that reaches one (``filter[deleted]``, or ``or``) fails whole.
                raise self._not_found(spec, record["id"])
        return Page(records, total)

    def list_all(self, module: str, *, include_deleted: bool = False) -> list[dict[str, Any]]:
        spec = self.spec(module)
        sql = "SELECT id, body FROM beans WHERE module = ?" + ("" if include_deleted else " AND deleted = 0")
        with self._lock:
            rows = self._conn.execute(sql + " ORDER BY seq", (spec.name,)).fetchall()
        return [self._row_to_record(r) for r in rows]

    def count(self, module: str, *, include_deleted: bool = False) -> int:
        spec = self.spec(module)
        sql = "SELECT COUNT(*) FROM beans WHERE module = ?" + ("" if include_deleted else " AND deleted = 0")
        with self._lock:
            return int(self._conn.execute(sql, (spec.name,)).fetchone()[0])

    def modules(self) -> list[str]:
        return list(MODULES)

    def close(self) -> None:
        with self._lock:
            self._conn.close()
