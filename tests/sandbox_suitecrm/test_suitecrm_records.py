"""The record endpoints of the SuiteCRM sandbox, over real HTTP: create, get, PATCH, delete, list."""

from __future__ import annotations

import uuid

import httpx

from crmsync.sandbox.suitecrm import SuiteCrmSandboxServer
from tests.sandbox_suitecrm.conftest import JSON_API, create, list_ids


def test_create_with_client_id_answers_201_and_the_record(api: httpx.Client) -> None:
    bean_id = str(uuid.uuid4())
    resource = create(api, "Contacts", {"first_name": "Ana", "last_name": "Souza", "cpf_c": "529.982.247-25"}, bean_id)
    assert resource["id"] == bean_id
    assert resource["type"] == "Contact"
    assert resource["attributes"]["name"] == "Ana Souza"
    assert resource["attributes"]["cpf_c"] == "529.982.247-25"
    got = api.get(f"/Api/V8/module/Contacts/{bean_id}")
    assert got.status_code == 200
    assert got.headers["content-type"].startswith(JSON_API)
    assert got.json()["data"]["attributes"]["last_name"] == "Souza"


def test_create_without_id_gets_a_uuid(api: httpx.Client) -> None:
    resource = create(api, "Accounts", {"name": "Padaria Pão Quente LTDA", "cnpj_c": "11.222.333/0001-81"})
    assert uuid.UUID(resource["id"])
    assert resource["type"] == "Account"


def test_patch_changes_only_the_attributes_sent(api: httpx.Client, suite: SuiteCrmSandboxServer) -> None:
    resource = create(api, "Contacts", {"first_name": "Ana", "last_name": "Souza", "email1": "ana@x.com.br"})
    suite.advance_clock(120)  # two minutes later
    answer = api.patch(
        "/Api/V8/module",
        json={"data": {"type": "Contacts", "id": resource["id"], "attributes": {"phone_mobile": "(11) 9 9999-0000"}}},
    )
    assert answer.status_code == 201, answer.text  # SuiteCRM answers a PATCH with 201
    attributes = answer.json()["data"]["attributes"]
    assert attributes["phone_mobile"] == "(11) 9 9999-0000"
    assert attributes["email1"] == "ana@x.com.br"
    assert attributes["first_name"] == "Ana"
    assert attributes["date_modified"] > resource["attributes"]["date_modified"]
    assert attributes["date_modified"].endswith(":00+00:00")


def test_delete_is_soft_and_the_record_disappears(api: httpx.Client, suite: SuiteCrmSandboxServer) -> None:
    keep = create(api, "AOS_Products", {"name": "Café 500g", "price": "21.90", "part_number": "CAF-500"})
    gone = create(api, "AOS_Products", {"name": "Arroz 5kg", "price": 27.9})
    answer = api.delete(f"/Api/V8/module/AOS_Products/{gone['id']}")
    assert answer.status_code == 200
    assert answer.json()["meta"]["message"] == f"Record with id {gone['id']} is deleted"
    assert list_ids(api, "AOS_Products") == [keep["id"]]
    again = api.get(f"/Api/V8/module/AOS_Products/{gone['id']}")
    assert again.status_code == 400
    assert gone["id"] in again.json()["errors"]["detail"]
    assert suite.store.get("AOS_Products", gone["id"], include_deleted=True)["deleted"] == "1"


def test_unknown_id_is_400_with_errors_body(api: httpx.Client) -> None:
    missing = str(uuid.uuid4())
    for answer in (
        api.get(f"/Api/V8/module/Contacts/{missing}"),
        api.delete(f"/Api/V8/module/Contacts/{missing}"),
        api.patch("/Api/V8/module", json={"data": {"type": "Contacts", "id": missing, "attributes": {}}}),
    ):
        assert answer.status_code == 400
        assert answer.json()["errors"]["status"] == 400
        assert answer.json()["errors"]["detail"] == f"Contacts module with id {missing} is not found"
