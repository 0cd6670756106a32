"""The stand-in answers like the real SuiteCRM 7.14.6 where they used to differ: one test per
difference, each run against both (the real one when it is up, see real_suitecrm)."""

from __future__ import annotations

import hashlib
import json
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parents[1]))
from real_suitecrm import real_suite

from crmsync.sandbox.suitecrm import SuiteCrmSandboxServer

JSON_API = "application/vnd.api+json"


@dataclass
class Api:
    name: str
    base_url: str
    client_id: str
    client_secret: str
    username: str
    password: str
    token_rows: Callable[[], int]  # rows of oauth2tokens (the stand-in: tokens it keeps)
    http: httpx.Client
    time_zone: Callable[[str], AbstractContextManager[None]] = lambda _zone: nullcontext()

    def token(self) -> str:
        answer = self.http.post(
            "/Api/access_token",
            data={"grant_type": "client_credentials", "client_id": self.client_id, "client_secret": self.client_secret},
        )
        assert answer.status_code == 200, answer.text
        return str(answer.json()["access_token"])

    def v8(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token()}", "Accept": JSON_API, "Content-Type": JSON_API}
        return self.http.request(method, "/Api/V8" + path, headers=headers, **kwargs)

    def contact(self, **attributes: str) -> str:
        bean = str(uuid.uuid4())
        body = {"data": {"type": "Contacts", "id": bean, "attributes": {"last_name": "Paridade", **attributes}}}
        answer = self.v8("POST", "/module", json=body)
        assert answer.status_code == 201, answer.text
        return bean


@pytest.fixture(params=["standin", "real"])
def api(request: pytest.FixtureRequest) -> Iterator[Api]:
    if request.param == "real":
        real = real_suite()
        with httpx.Client(base_url=real.base_url, timeout=60.0) as http:
            yield Api(
                "real",
                real.base_url,
                real.client_id,
                real.client_secret,
                "admin",
                "admin_pw_test",
                lambda: int(real.query("SELECT COUNT(*) FROM oauth2tokens")[0][0]),
                http,
                real.admin_time_zone,
            )
        return
    with SuiteCrmSandboxServer(seed=0) as sb, httpx.Client(base_url=sb.base_url, timeout=60.0) as http:
        yield Api(
            "standin",
            sb.base_url,
            sb.client_id,
            sb.client_secret,
            sb.config.username,
            sb.config.password,
            lambda: int(sb.stats()["tokens"]["oauth2tokens"]),
            http,
        )


def _ctype(answer: httpx.Response) -> str:
    return answer.headers.get("content-type", "").split(";")[0].strip().lower()


def test_unknown_client_id_is_a_500_naming_it(api: Api) -> None:
    answer = api.http.post(
        "/Api/access_token",
        data={"grant_type": "client_credentials", "client_id": "cliente-que-nao-existe", "client_secret": "x"},
    )
    assert answer.status_code == 500
    body = answer.json()
    assert body["error"] == "unknown_error"
    assert body["error_description"] == "OAuth2Clients module with id cliente-que-nao-existe is not found"


def test_wrong_secret_is_401_invalid_client(api: Api) -> None:
    answer = api.http.post(
        "/Api/access_token",
        data={"grant_type": "client_credentials", "client_id": api.client_id, "client_secret": "errado"},
    )
    assert answer.status_code == 401 and answer.json()["error"] == "invalid_client"


@pytest.mark.parametrize(
    ("path", "detail"),
    [
        ("/module/Contacts?filter[nao_existe][eq]=1", "Filter field nao_existe in Contact module is not found"),
        ("/module/Contacts?fields[Contacts]=nao_existe", "The following field in Contact module is not found"),
        ("/module/Contacts?page[size]=0", 'The option "size" with value "0" is invalid.'),
        ("/module/Contacts?filter[last_name][zz]=a", "Filter operator zz is invalid"),
        ("/module/NaoExiste", "Module NaoExiste does not exist"),
    ],
)
def test_validation_400s_are_application_json(api: Api, path: str, detail: str) -> None:
    answer = api.v8("GET", path)
    assert answer.status_code == 400
    assert _ctype(answer) == "application/json"
    assert detail in answer.json()["errors"]["detail"]


def test_unknown_attribute_400_is_application_json(api: Api) -> None:
    answer = api.v8("POST", "/module", json={"data": {"type": "Contacts", "attributes": {"nao_existe": "x"}}})
    assert answer.status_code == 400 and _ctype(answer) == "application/json"
    assert answer.json()["errors"]["detail"] == "Property nao_existe in Contact module is invalid"


def test_not_found_and_already_exist_400s_are_json_api(api: Api) -> None:
    missing = api.v8("GET", f"/module/Contacts/{uuid.uuid4()}")
    assert missing.status_code == 400 and _ctype(missing) == JSON_API
    assert "is not found" in missing.json()["errors"]["detail"]
    bean = api.contact()
    twice = api.v8("POST", "/module", json={"data": {"type": "Contacts", "id": bean, "attributes": {"last_name": "x"}}})
    assert twice.status_code == 400 and _ctype(twice) == JSON_API
    assert twice.json()["errors"]["detail"] == f"Bean Contacts with id {bean} is already exist"


def test_fields_id_only_answers_attributes_as_an_empty_array(api: Api) -> None:
    tag = uuid.uuid4().hex[:10]
    api.contact(first_name=tag)
    answer = api.v8("GET", f"/module/Contacts?fields[Contacts]=id&filter[first_name][eq]={tag}")
    assert answer.status_code == 200
    items = answer.json()["data"]
    assert len(items) == 1 and items[0]["attributes"] == []


def test_like_is_a_filter_operator(api: Api) -> None:
    tag = uuid.uuid4().hex[:10]
    api.contact(first_name=f"Ana{tag}")
    api.contact(first_name=f"Bia{tag}")
    answer = api.v8("GET", f"/module/Contacts?filter[first_name][like]=%25{tag}&fields[Contacts]=first_name")
    assert answer.status_code == 200
    assert sorted(i["attributes"]["first_name"] for i in answer.json()["data"]) == [f"Ana{tag}", f"Bia{tag}"]
    none = api.v8("GET", f"/module/Contacts?filter[first_name][like]=Zz{tag}%25")
    assert none.status_code == 200 and none.json()["data"] == []
    assert none.json()["meta"]["message"] == "Request was successful, but there is no result"


def test_filter_on_deleted_reaching_a_deleted_record_is_400(api: Api) -> None:
    bean = api.contact()
    assert api.v8("DELETE", f"/module/Contacts/{bean}").status_code == 200
    answer = api.v8("GET", "/module/Contacts?filter[deleted][eq]=1&fields[Contacts]=id")
    assert answer.status_code == 400
    assert "is not found" in answer.json()["errors"]["detail"]


def test_v4_1_lists_deleted_rows_with_the_deleted_query(api: Api) -> None:
    bean = api.contact()
    assert api.v8("DELETE", f"/module/Contacts/{bean}").status_code == 200
    password = hashlib.md5(api.password.encode()).hexdigest()
    login = _v4(api, "login", {"user_auth": {"user_name": api.username, "password": password}, "application_name": "t"})
    session = login["id"]
    listed = _v4(
        api,
        "get_entry_list",
        {
            "session": session,
            "module_name": "Contacts",
            "query": f"contacts.deleted = 1 AND contacts.id = '{bean}'",
            "order_by": "",
            "offset": 0,
            "select_fields": ["id", "deleted"],
            "link_name_to_fields_array": [],
            "max_results": 10,
            "deleted": 1,
        },
    )
    entries = listed["entry_list"]
    assert [e["id"] for e in entries] == [bean]
    assert entries[0]["name_value_list"]["deleted"]["value"] == "1"


def _v4(api: Api, method: str, args: dict[str, Any]) -> dict[str, Any]:
    answer = api.http.post(
        "/service/v4_1/rest.php",
        data={"method": method, "input_type": "JSON", "response_type": "JSON", "rest_data": json.dumps(args)},
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert isinstance(body, dict), body
    return body


def test_stamps_are_utc_to_the_minute_whatever_the_users_time_zone(api: Api) -> None:
    with api.time_zone("America/Sao_Paulo"):
        bean = api.contact()
        stamp = api.v8("GET", f"/module/Contacts/{bean}").json()["data"]["attributes"]["date_modified"]
    assert stamp.endswith("+00:00") and stamp[17:19] == "00"
    assert abs(datetime.fromisoformat(stamp) - datetime.now(UTC)) < timedelta(minutes=10)


def test_each_token_request_leaves_a_row(api: Api) -> None:
    before = api.token_rows()
    api.token()
    api.token()
    assert api.token_rows() - before >= 2  # (other tests of the run may add theirs)
    if api.name == "standin":
        assert api.token_rows() - before == 2
