"""Bad input to the SuiteCRM sandbox: SuiteCRM's 400 ``errors`` bodies, never a 500, nothing changed."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crmsync.sandbox.suitecrm import SuiteCrmSandboxServer
from tests.sandbox_suitecrm.conftest import JSON_API, create

CREATE = "/Api/V8/module"


def _error(answer: httpx.Response, status: int = 400) -> str:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].split(";")[0] in (JSON_API, "application/json")  # which: test_suitecrm_parity
    errors = answer.json()["errors"]
    assert errors["status"] == status
    detail: str = errors["detail"]
    return detail


@pytest.mark.parametrize(
    ("content", "content_type", "expected"),
    [
        (b'{"data": {"type": "Contacts", "attributes": {', JSON_API, "Syntax error, malformed JSON"),
        (b"", JSON_API, 'The required option "data" is missing.'),
        (b"[1, 2]", JSON_API, 'The required option "data" is missing.'),
        (b'{"data": "Contacts"}', JSON_API, 'The option "data" with value is expected to be of type "array".'),
        (b'{"data": {"attributes": {}}}', JSON_API, 'The required option "type" is missing.'),
        (
            b'{"data": {"type": "Contacts", "attributes": []}}',
            JSON_API,
            'The option "attributes" with value is expected to be of type "array".',
        ),
        (b'{"data": {"type": "Leads", "attributes": {}}}', JSON_API, "Module Leads does not exist"),
        (
            b'{"data": {"type": "Contacts", "id": "abc", "attributes": {}}}',
            JSON_API,
            'The option "id" with value "abc" is invalid.',
        ),
        (
            b'{"data": {"type": "Contacts", "attributes": {"cnpj_c": "1"}}}',
            JSON_API,
            "Property cnpj_c in Contact module is invalid",
        ),
        (
            b'{"data": {"type": "Contacts", "attributes": {"last_name": {"x": 1}}}}',
            JSON_API,
            "Property last_name in Contact module must be a scalar value",
        ),
        (
            b'{"data": {"type": "Contacts", "attributes": {"date_modified": "ontem"}}}',
            JSON_API,
            "Property date_modified in Contact module has an invalid date: ontem",
        ),
        (b"last_name=Silva", "application/x-www-form-urlencoded", "Content-Type application/x-www-form-urlencoded"),
        (b'{"data": {"type": "Contacts"}}', "text/plain", "Content-Type text/plain is not supported"),
    ],
)
def test_bad_create_bodies(
    api: httpx.Client, suite: SuiteCrmSandboxServer, content: bytes, content_type: str, expected: str
) -> None:
    answer = api.post(CREATE, content=content, headers={"Content-Type": content_type})
    assert expected in _error(answer)
    assert suite.store.count("Contacts", include_deleted=True) == 0


def test_application_json_is_accepted_as_the_postman_collection_sends_it(api: httpx.Client) -> None:
    answer = api.post(
        CREATE,
        content=json.dumps({"data": {"type": "Accounts", "attributes": {"name": "Muhahaha"}}}),
        headers={"Content-Type": "application/json"},
    )
    assert answer.status_code == 201


def test_bad_patch_bodies_change_nothing(api: httpx.Client, suite: SuiteCrmSandboxServer) -> None:
    record = create(api, "Contacts", {"last_name": "Intacto"})
    before = suite.store.get("Contacts", record["id"])
    for body, expected in (
        ({"data": {"type": "Contacts", "attributes": {"last_name": "X"}}}, 'The required option "id" is missing.'),
        ({"data": {"type": "Contacts", "id": record["id"], "attributes": {"nope_c": "1"}}}, "Property nope_c"),
        ({"data": {"type": "Accounts", "id": record["id"], "attributes": {"name": "X"}}}, "Accounts module with id"),
    ):
        assert expected in _error(api.patch(CREATE, json=body))
    assert suite.store.get("Contacts", record["id"]) == before


def test_a_duplicate_id_is_refused(api: httpx.Client) -> None:
    bean_id = str(uuid.uuid4())
    create(api, "Contacts", {"last_name": "Um"}, bean_id)
    assert _error(api.post(CREATE, json={"data": {"type": "Contacts", "id": bean_id, "attributes": {}}})) == (
        f"Bean Contacts with id {bean_id} is already exist"
    )


@pytest.mark.parametrize(
    ("path", "params", "expected"),
    [
        ("/Api/V8/module/Leads", {}, "Module Leads does not exist"),
        ("/Api/V8/module/Contacts", {"page[size]": "0"}, 'The option "size" with value "0" is invalid.'),
        ("/Api/V8/module/Contacts", {"page[number]": "abc"}, 'The option "number" with value "abc" is invalid.'),
        (
            "/Api/V8/module/Contacts",
            {"page[size]": "9" * 25, "page[number]": "9" * 25},
            'The option "size" with value "9999',
        ),
        ("/Api/V8/module/Contacts", {"page[offset]": "2"}, 'The option "offset" does not exist.'),
        ("/Api/V8/module/Contacts", {"sort": "last_name,first_name"}, 'The option "sort" with value'),
        ("/Api/V8/module/Contacts", {"sort": ""}, 'The option "sort" with value'),
        ("/Api/V8/module/Contacts", {"sort": "shoe_size"}, "Sort field shoe_size in Contact module is not found"),
        ("/Api/V8/module/Contacts", {"filter[last_name]": "Silva"}, "Filter field last_name must be an array"),
        ("/Api/V8/module/Contacts", {"filter[last_name][ilike]": "Silva"}, "Filter operator ilike is invalid"),
        ("/Api/V8/module/Contacts", {"filter[operator]": "xor"}, "Filter operator xor is invalid"),
        (
            "/Api/V8/module/Contacts",
            {"filter[shoe_size][eq]": "42"},
            "Filter field shoe_size in Contact module is not found",
        ),
        (
            "/Api/V8/module/Contacts",
            {"filter[date_modified][gt]": "ontem"},
            "Filter field date_modified has an invalid date",
        ),
        ("/Api/V8/module/Contacts", {"filter[a][b][c]": "1"}, "Filter field a is malformed"),
        ("/Api/V8/module/Contacts", {"fields[Leads]": "name"}, "Module Leads does not exist"),
    ],
)
def test_bad_listing_parameters(api: httpx.Client, path: str, params: dict[str, str], expected: str) -> None:
    assert expected in _error(api.get(path, params=params))


def test_unknown_routes_and_methods_answer_jsonapi_errors(api: httpx.Client) -> None:
    assert "Not Found" in _error(api.get("/Api/V8/nothing/here"), 404)
    assert "Method Not Allowed" in _error(api.put(CREATE, json={}), 405)


@pytest.fixture(scope="module")
def shared() -> Iterator[tuple[SuiteCrmSandboxServer, httpx.Client]]:
    with (
        SuiteCrmSandboxServer() as server,
        httpx.Client(base_url=server.base_url, headers=server.headers(), timeout=10) as client,
    ):
        yield server, client


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
_documents = st.fixed_dictionaries(
    {},
    optional={
        "data": st.fixed_dictionaries(
            {},
            optional={
                "type": st.sampled_from(["Contacts", "Contact", "Accounts", "AOS_Products", "Leads", ""]) | _json,
                "id": st.sampled_from(["", "123", "not-an-id", str(uuid.UUID(int=7))]) | _json,
                "attributes": st.dictionaries(
                    st.sampled_from(["last_name", "name", "price", "cpf_c", "date_modified", "bogus"]),
                    _json,
                    max_size=4,
                )
                | _json,
            },
        )
        | _json
    },
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(document=_documents, method=st.sampled_from(["POST", "PATCH"]))
def test_no_body_makes_a_500(
    shared: tuple[SuiteCrmSandboxServer, httpx.Client], document: dict[str, Any], method: str
) -> None:
    _, client = shared
    answer = client.request(method, CREATE, json=document)
    assert answer.status_code in (200, 201, 400), answer.text
    if answer.status_code == 400:
        assert isinstance(answer.json()["errors"]["detail"], str)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    params=st.dictionaries(
        st.sampled_from(
            [
                "sort",
                "page[size]",
                "page[number]",
                "filter[operator]",
                "filter[date_modified][gte]",
                "filter[name][eq]",
                "fields[Contacts]",
                "filter[x]",
                "page[x]",
            ]
        ),
        st.text(max_size=12),
        max_size=4,
    )
)
def test_no_query_makes_a_500(shared: tuple[SuiteCrmSandboxServer, httpx.Client], params: dict[str, str]) -> None:
    _, client = shared
    answer = client.get("/Api/V8/module/Contacts", params=params)
    assert answer.status_code in (200, 400), answer.text


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=st.one_of(
        st.binary(max_size=40),
        _json.map(lambda value: json.dumps(value).encode()),
        st.dictionaries(
            st.sampled_from(["grant_type", "client_id", "client_secret", "username", "password", "refresh_token"]),
            _json,
            max_size=5,
        ).map(lambda value: json.dumps(value).encode()),
    ),
    content_type=st.sampled_from(["application/json", "application/x-www-form-urlencoded", "text/plain", ""]),
    authorization=st.sampled_from(["", "Basic !!!", "Basic " + "c2FuZGJveC1jbGllbnQ6eA==", "Bearer x"]),
)
def test_no_token_request_makes_a_500(
    shared: tuple[SuiteCrmSandboxServer, httpx.Client], body: bytes, content_type: str, authorization: str
) -> None:
    server, _ = shared
    headers = {"Content-Type": content_type} if content_type else {}
    if authorization:
        headers["Authorization"] = authorization
    answer = httpx.post(server.base_url + "/Api/access_token", content=body, headers=headers)
    assert answer.status_code in (200, 400, 401), answer.text
    assert "error" in answer.json() or "access_token" in answer.json()
