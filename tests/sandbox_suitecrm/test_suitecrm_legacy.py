"""The legacy v4_1 REST API of the SuiteCRM sandbox: login, and get_entry_list with deleted=1."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import httpx

from crmsync.sandbox.suitecrm import SuiteCrmSandboxServer

REST = "/service/v4_1/rest.php"


def _call(suite: SuiteCrmSandboxServer, method: str, rest_data: Any) -> dict[str, Any]:
    answer = httpx.post(
        suite.base_url + REST,
        data={"method": method, "input_type": "JSON", "response_type": "JSON", "rest_data": json.dumps(rest_data)},
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def _login(suite: SuiteCrmSandboxServer) -> str:
    md5 = hashlib.md5(suite.config.password.encode()).hexdigest()
    body = _call(suite, "login", {"user_auth": {"user_name": suite.config.username, "password": md5}})
    session: str = body["id"]
    return session


def _values(entry: dict[str, Any]) -> dict[str, Any]:
    return {k: v["value"] for k, v in entry["name_value_list"].items()}


def test_login_with_md5_or_plain_password_and_a_bad_one(suite: SuiteCrmSandboxServer) -> None:
    assert _login(suite)
    plain = _call(suite, "login", [{"user_name": suite.config.username, "password": suite.config.password}, "app", []])
    assert plain["module_name"] == "Users"
    bad = _call(suite, "login", {"user_auth": {"user_name": suite.config.username, "password": "x"}})
    assert bad == {
        "name": "Invalid Login",
        "number": 10,
        "description": "Login attempt failed please check the username and password",
    }


def test_get_entry_list_with_deleted_lists_deleted_beans_since_a_stamp(suite: SuiteCrmSandboxServer) -> None:
    keep = suite.store.create("Contacts", {"last_name": "Fica"})
    gone = suite.store.create("Contacts", {"last_name": "Sai"})
    old = suite.store.create("Contacts", {"last_name": "Antigo"})
    suite.store.set_date_modified("Contacts", old["id"], "2020-01-01T00:00:00+00:00")
    suite.store.delete("Contacts", gone["id"])
    session = _login(suite)
    body = _call(
        suite,
        "get_entry_list",
        {
            "session": session,
            "module_name": "Contacts",
            "query": "contacts.date_modified >= '2021-01-01 00:00:00'",
            "order_by": "contacts.id",
            "offset": 0,
            "select_fields": ["id", "last_name", "deleted", "date_modified"],
            "max_results": 10,
            "deleted": 1,
        },
    )
    found = {e["id"]: _values(e) for e in body["entry_list"]}
    assert set(found) == {keep["id"], gone["id"]}
    assert found[gone["id"]]["deleted"] == "1" and found[keep["id"]]["deleted"] == "0"
    assert set(found[gone["id"]]) == {"id", "last_name", "deleted", "date_modified"}
    stamp = found[gone["id"]]["date_modified"]
    assert datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC) > datetime(2021, 1, 1, tzinfo=UTC)
    assert (body["result_count"], body["total_count"], body["next_offset"]) == (2, "2", 2)
    # Without deleted=1 only live beans; only deleted ones with a condition on the column.
    live = _call(suite, "get_entry_list", {"session": session, "module_name": "Contacts", "deleted": 0})
    assert {e["id"] for e in live["entry_list"]} == {keep["id"], old["id"]}
    only = _call(
        suite,
        "get_entry_list",
        {"session": session, "module_name": "Contacts", "query": "deleted = '1'", "deleted": 1},
    )
    assert [e["id"] for e in only["entry_list"]] == [gone["id"]]


def test_positional_rest_data_and_paging(suite: SuiteCrmSandboxServer) -> None:
    for n in range(5):
        suite.store.create("Accounts", {"name": f"Empresa {n}"})
    session = _login(suite)
    first = _call(suite, "get_entry_list", [session, "Accounts", "", "date_entered", 0, [], [], 3, 1, False])
    second = _call(suite, "get_entry_list", [session, "Accounts", "", "date_entered", 3, [], [], 3, 1, False])
    assert (first["result_count"], second["result_count"], first["next_offset"]) == (3, 2, 3)
    ids = {e["id"] for e in first["entry_list"]} | {e["id"] for e in second["entry_list"]}
    assert len(ids) == 5


def test_errors_are_objects_with_a_number(suite: SuiteCrmSandboxServer) -> None:
    assert _call(suite, "get_entry_list", {"session": "nope", "module_name": "Contacts"})["number"] == 11
    session = _login(suite)
    assert _call(suite, "get_entry_list", {"session": session, "module_name": "Leads"})["number"] == 20
    bad_query = _call(
        suite, "get_entry_list", {"session": session, "module_name": "Contacts", "query": "1=1; DROP TABLE contacts"}
    )
    assert bad_query["number"] == 40
    bad_date = _call(
        suite, "get_entry_list", {"session": session, "module_name": "Contacts", "query": "date_modified > 'ontem'"}
    )
    assert bad_date["number"] == 40
    bad_order = _call(suite, "get_entry_list", {"session": session, "module_name": "Contacts", "order_by": "shoe_size"})
    assert bad_order["number"] == 40
    assert _call(suite, "set_entry", {"session": session})["number"] == 31
    broken = httpx.post(suite.base_url + REST, data={"method": "login", "rest_data": "{oops"})
    assert broken.json()["number"] == 30


def test_sessions_expire_with_the_token_ttl() -> None:
    with SuiteCrmSandboxServer(token_ttl_seconds=30) as suite:
        session = _login(suite)
        assert "entry_list" in _call(suite, "get_entry_list", {"session": session, "module_name": "Contacts"})
        suite.advance_clock(31)
        assert _call(suite, "get_entry_list", {"session": session, "module_name": "Contacts"})["number"] == 11
