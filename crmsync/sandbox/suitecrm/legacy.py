"""The legacy REST API v4_1 of the SuiteCRM sandbox: ``login`` and ``get_entry_list`` only.

SuiteCRM's V8 API never lists a deleted bean; the old ``service/v4_1/rest.php`` does when
``get_entry_list`` is called with ``deleted=1`` (each entry then carries ``deleted: "1"`` or
``"0"``). That is the one thing a sync client may want it for — finding remote deletes without a
full id scan — so only that much is served. Calls are ``POST`` (or ``GET``) with form fields
``method``, ``input_type=JSON``, ``response_type=JSON`` and ``rest_data`` (a JSON object, or the
positional JSON array older clients send). Errors answer HTTP 200 with
``{"name", "number", "description"}``, as SuiteCRM's SOAP-era error objects do.

``query`` supports what a changed-since reader needs: ``[table.]field op 'value'`` conditions
on ``date_modified``, ``date_entered``, ``deleted`` or ``id`` joined by ``AND``; ``order_by`` is
``[table.]field [ASC|DESC]``. Anything else is refused with an error object, not guessed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import threading
from typing import Any

from crmsync.sandbox.formats import SandboxClock
from crmsync.sandbox.suitecrm.config import SuiteCrmSandboxConfig
from crmsync.sandbox.suitecrm.errors import SuiteError
from crmsync.sandbox.suitecrm.modules import module_for
from crmsync.sandbox.suitecrm.store import Condition, ListQuery, SuiteCrmStore, parse_stamp

LEGACY_PATH = "/service/v4_1/rest.php"
_CONDITION = re.compile(
    r"^\s*(?:\w+\.)?(date_modified|date_entered|deleted|id)\s*(>=|<=|<>|!=|=|>|<)\s*(?:'([^']*)'|(\d+))\s*$",
    re.IGNORECASE,
)
_ORDER = re.compile(r"^\s*(?:\w+\.)?(\w+)(?:\s+(asc|desc))?\s*$", re.IGNORECASE)
_OPS = {"=": "eq", "<>": "neq", "!=": "neq", ">": "gt", ">=": "gte", "<": "lt", "<=": "lte"}
_LOGIN_ARGS = ("user_auth", "application_name", "name_value_list")
_LIST_ARGS = (
    "session",
    "module_name",
    "query",
    "order_by",
    "offset",
    "select_fields",
    "link_name_to_fields_array",
    "max_results",
    "deleted",
    "favorites",
)


class LegacyError(Exception):
    def __init__(self, name: str, number: int, description: str) -> None:
        super().__init__(description)
        self.body = {"name": name, "number": number, "description": description}


INVALID_LOGIN = ("Invalid Login", 10, "Login attempt failed please check the username and password")
INVALID_SESSION = ("Invalid Session ID", 11, "The session ID is invalid")
NO_MODULE = ("Module Does Not Exist", 20, "This module is not available on this server")


def _arguments(raw: str, names: tuple[str, ...]) -> dict[str, Any]:
    try:
        data = json.loads(raw) if raw.strip() else {}
    except ValueError as exc:
        raise LegacyError("Invalid Data", 30, "rest_data is not valid JSON") from exc
    if isinstance(data, list):
        return dict(zip(names, data, strict=False))
    if not isinstance(data, dict):
        raise LegacyError("Invalid Data", 30, "rest_data must be a JSON object or array")
    return data


def _db_value(value: str) -> str:
    """``2026-12-06T02:15:00+00:00`` (V8) -> ``2026-12-06 02:15:00`` (v4_1 answers database form, UTC)."""
    return value.replace("T", " ")[:19]


class LegacyRest:
    """Sessions and the two calls; sessions live as long as V8 tokens (``token_ttl_seconds``)."""

    def __init__(self, config: SuiteCrmSandboxConfig, clock: SandboxClock, store: SuiteCrmStore) -> None:
        self.config = config
        self.clock = clock
        self.store = store
        self._lock = threading.Lock()
        self._sessions: dict[str, float] = {}

    def call(self, method: str, rest_data: str) -> dict[str, Any]:
        try:
            if method == "login":
                return self._login(_arguments(rest_data, _LOGIN_ARGS))
            if method == "get_entry_list":
                return self._get_entry_list(_arguments(rest_data, _LIST_ARGS))
            raise LegacyError("Invalid Method", 31, f"Method {method or '(none)'} is not served by this sandbox")
        except LegacyError as exc:
            return exc.body

    def expire_all(self) -> None:
        with self._lock:
            self._sessions.clear()

    def _login(self, args: dict[str, Any]) -> dict[str, Any]:
        auth = args.get("user_auth")
        if not isinstance(auth, dict):
            raise LegacyError(*INVALID_LOGIN)
        user, given = str(auth.get("user_name") or ""), str(auth.get("password") or "")
        expected_md5 = hashlib.md5(self.config.password.encode()).hexdigest()  # v4_1 logins send MD5(password)
        good_password = hmac.compare_digest(given.lower(), expected_md5) or hmac.compare_digest(
            given, self.config.password
        )
        if not (hmac.compare_digest(user, self.config.username) and good_password):
            raise LegacyError(*INVALID_LOGIN)
        session = secrets.token_hex(13)
        with self._lock:
            self._sessions[session] = self.clock.time() + self.config.token_ttl_seconds
        values = {"user_id": "1", "user_name": user, "user_language": "pt_BR", "user_is_admin": True}
        return {
            "id": session,
            "module_name": "Users",
            "name_value_list": {k: {"name": k, "value": v} for k, v in values.items()},
        }

    def _check_session(self, session: Any) -> None:
        with self._lock:
            expires = self._sessions.get(str(session or ""))
        if expires is None or expires <= self.clock.time():
            raise LegacyError(*INVALID_SESSION)

    def _query(self, raw: Any) -> list[Condition]:
        text = str(raw or "").strip()
        if not text:
            return []
        conditions = []
        for part in re.split(r"\s+AND\s+", text, flags=re.IGNORECASE):
            match = _CONDITION.match(part.strip().strip("()"))
            if match is None:
                raise LegacyError("Invalid Query", 40, f"The sandbox does not understand the query: {text}")
            field, op = match.group(1).lower(), _OPS[match.group(2)]
            value = match.group(3) if match.group(3) is not None else match.group(4)
            if field.startswith("date_"):
                try:
                    parse_stamp(value)
                except ValueError as exc:
                    raise LegacyError("Invalid Query", 40, f"Invalid date in the query: {value}") from exc
            conditions.append(Condition(field, op, value))
        return conditions

    def _get_entry_list(self, args: dict[str, Any]) -> dict[str, Any]:
        self._check_session(args.get("session"))
        spec = module_for(str(args.get("module_name") or ""))
        if spec is None:
            raise LegacyError(*NO_MODULE)
        query = ListQuery(conditions=self._query(args.get("query")))
        order = str(args.get("order_by") or "").strip()
        if order:
            match = _ORDER.match(order)
            if match is None:
                raise LegacyError("Invalid Query", 40, f"The sandbox does not understand order_by: {order}")
            query.sort, query.descending = match.group(1), (match.group(2) or "").lower() == "desc"
        try:
            query.offset = max(0, int(args.get("offset") or 0))
            max_results = int(args.get("max_results") or 20)
        except (TypeError, ValueError) as exc:
            raise LegacyError("Invalid Data", 30, "offset and max_results must be numbers") from exc
        query.limit = max(1, min(max_results, 1_000_000))
        include_deleted = str(args.get("deleted") or "0").lower() in ("1", "true")
        try:
            page = self.store.list_page(spec.name, query, include_deleted=include_deleted)
        except SuiteError as exc:
            raise LegacyError("Invalid Query", 40, exc.detail) from exc
        select = args.get("select_fields") or []
        wanted = [str(f) for f in select] if isinstance(select, list) else []
        entries = []
        for record in page.rows:
            values = {k: v for k, v in record.items() if k != "id"}
            values["id"] = record["id"]
            for name in ("date_entered", "date_modified"):
                values[name] = _db_value(values[name])
            if wanted:
                values = {k: values[k] for k in wanted if k in values}
            entries.append(
                {
                    "id": record["id"],
                    "module_name": spec.name,
                    "name_value_list": {k: {"name": k, "value": v} for k, v in values.items()},
                }
            )
        return {
            "result_count": len(entries),
            "total_count": str(page.total),
            "next_offset": query.offset + len(entries),
            "entry_list": entries,
            "relationship_list": [],
        }
