"""Fault injection, pace and stats of the SuiteCRM sandbox, over real HTTP."""

from __future__ import annotations

import uuid

import httpx
import pytest

from crmsync.sandbox.suitecrm import SuiteCrmSandboxServer
from tests.sandbox_suitecrm.conftest import create, list_ids

CREATE = "/Api/V8/module"


def _body(bean_id: str, name: str = "Fulano") -> dict[str, object]:
    return {"data": {"type": "Contacts", "id": bean_id, "attributes": {"last_name": name}}}


def test_http_500_is_an_html_page(api: httpx.Client, suite: SuiteCrmSandboxServer) -> None:
    suite.queue_fault("http_500")
    answer = api.get("/Api/V8/module/Contacts")
    assert answer.status_code == 500
    assert answer.headers["content-type"].startswith("text/html")
    assert api.get("/Api/V8/module/Contacts").status_code == 200  # one shot only
    assert suite.stats()["faults"]["http_500"] == 1


def test_drop_closes_the_connection_mid_answer(api: httpx.Client, suite: SuiteCrmSandboxServer) -> None:
    suite.queue_fault("drop")
    with pytest.raises(httpx.RemoteProtocolError):
        api.get("/Api/V8/module/Contacts")
    assert api.get("/Api/V8/module/Contacts").status_code == 200
    assert suite.stats()["faults"]["drop"] == 1


def test_slow_answers_late_but_right(api: httpx.Client, suite: SuiteCrmSandboxServer) -> None:
    suite.set_faults(0.0, slow_seconds=0.2)
    suite.queue_fault("slow")
    record = create(api, "Contacts", {"last_name": "Devagar"})
    assert suite.store.get("Contacts", record["id"])["last_name"] == "Devagar"
    assert suite.stats()["faults"]["slow"] == 1


@pytest.mark.parametrize(("kind", "status"), [("http_429", 429), ("http_503", 503)])
def test_429_and_503_carry_retry_after_and_change_nothing(
    api: httpx.Client, suite: SuiteCrmSandboxServer, kind: str, status: int
) -> None:
    suite.queue_fault(kind, method="POST")
    bean_id = str(uuid.uuid4())
    answer = api.post(CREATE, json=_body(bean_id))
    assert answer.status_code == status
    assert answer.headers["retry-after"] == "1"
    assert suite.store.count("Contacts") == 0
    assert api.post(CREATE, json=_body(bean_id)).status_code == 201


def test_lost_create_answer_creates_the_record_and_a_retry_with_the_same_id_is_refused(
    api: httpx.Client, suite: SuiteCrmSandboxServer
) -> None:
    suite.queue_fault("lost_answer")
    assert list_ids(api, "Contacts") == []  # a listing is not a create: the fault waits
    bean_id = str(uuid.uuid4())
    try:
        answer = api.post(CREATE, json=_body(bean_id, "Perdido"))
        assert answer.status_code == 500
    except httpx.RemoteProtocolError:
        pass  # or the connection dropped: either way the client never learns the outcome
    assert suite.store.get("Contacts", bean_id)["last_name"] == "Perdido"
    again = api.post(CREATE, json=_body(bean_id, "Perdido"))
    assert again.status_code == 400
    assert again.json()["errors"]["detail"] == f"Bean Contacts with id {bean_id} is already exist"
    assert suite.store.count("Contacts") == 1
    assert suite.stats()["faults"]["lost_answer"] == 1


def test_queued_faults_count_down_and_filter_by_path(api: httpx.Client, suite: SuiteCrmSandboxServer) -> None:
    suite.queue_fault("http_503", times=2, path_prefix="/Api/V8/module/Accounts")
    assert api.get("/Api/V8/module/Contacts").status_code == 200
    assert api.get("/Api/V8/module/Accounts").status_code == 503
    assert api.get("/Api/V8/module/Accounts").status_code == 503
    assert api.get("/Api/V8/module/Accounts").status_code == 200


def test_random_faults_spare_the_token_endpoint_and_control_routes() -> None:
    with SuiteCrmSandboxServer(fault_rate=1.0, fault_kinds=("http_500",), seed=7) as suite:
        headers = suite.headers()  # the token endpoint still answers
        for _ in range(3):
            assert httpx.get(suite.base_url + "/Api/V8/module/Contacts", headers=headers).status_code == 500
        stats = httpx.get(suite.base_url + "/_sandbox/stats").json()
        assert stats["faults"]["http_500"] == 3
        assert stats["routes"]["GET /Api/V8/module/Contacts"]["http_500"] == 3


def test_random_faults_are_reproducible_with_a_seed() -> None:
    def run() -> list[int]:
        statuses = []
        with SuiteCrmSandboxServer(fault_rate=0.5, fault_kinds=("http_500", "http_503"), seed=42) as suite:
            headers = suite.headers()
            for _ in range(12):
                statuses.append(httpx.get(suite.base_url + "/Api/V8/module/Contacts", headers=headers).status_code)
        return statuses

    first = run()
    assert first == run()
    assert {200, 500, 503} <= set(first) or len(set(first)) > 1


def test_fault_settings_through_the_control_route(suite: SuiteCrmSandboxServer) -> None:
    answer = httpx.post(suite.base_url + "/_sandbox/faults", json={"queue": {"kind": "http_429", "times": 1}})
    assert answer.json()["queued"][0]["kind"] == "http_429"
    assert httpx.get(suite.base_url + "/Api/V8/module/Contacts", headers=suite.headers()).status_code == 429
    bad = httpx.post(suite.base_url + "/_sandbox/faults", json={"fault_rate": 3})
    assert bad.status_code == 400 and "fault_rate" in bad.json()["errors"]["detail"]
    assert suite.config.fault_rate == 0.0  # nothing changed
    with pytest.raises(ValueError, match="fault kind"):
        suite.queue_fault("meteor")


def test_a_configured_pace_answers_429_with_retry_after() -> None:
    with SuiteCrmSandboxServer(rate_limit=2) as suite:
        headers = suite.headers()
        statuses = []
        for _ in range(6):
            answer = httpx.get(suite.base_url + "/Api/V8/module/Contacts", headers=headers)
            statuses.append(answer.status_code)
            if answer.status_code == 429:
                assert int(answer.headers["retry-after"]) >= 1
                assert answer.json()["errors"]["status"] == 429
        assert 429 in statuses
        assert suite.stats()["companies"][suite.client_id]["rate_limited"] == statuses.count(429)


def test_no_pace_by_default(api: httpx.Client, suite: SuiteCrmSandboxServer) -> None:
    assert all(api.get("/Api/V8/module/Contacts").status_code == 200 for _ in range(15))
    assert suite.stats()["rate_limit"] == 0.0


def test_stats_and_request_log(api: httpx.Client, suite: SuiteCrmSandboxServer) -> None:
    suite.reset_stats()
    record = create(api, "Contacts", {"last_name": "Contado"})
    api.get(f"/Api/V8/module/Contacts/{record['id']}")
    api.get("/Api/V8/module/Contacts", params={"page[size]": 10})
    stats = httpx.get(suite.base_url + "/_sandbox/stats").json()
    assert stats["total_requests"] == 3
    assert stats["routes"]["GET /Api/V8/module/Contacts/{id}"]["requests"] == 1
    assert stats["routes"]["POST /Api/V8/module"]["served"] == 1
    assert stats["records"]["Contacts"] == 1
    log = httpx.get(suite.base_url + "/_sandbox/requests").json()
    assert [(e["method"], e["status"]) for e in log] == [("POST", 201), ("GET", 200), ("GET", 200)]
    assert log[1]["path"] == f"/Api/V8/module/Contacts/{record['id']}"


def test_restart_keeps_data_tokens_and_port(suite: SuiteCrmSandboxServer) -> None:
    headers = suite.headers()
    with httpx.Client(base_url=suite.base_url, headers=headers) as api:
        record = create(api, "Contacts", {"last_name": "Persistente"})
    port = suite.port
    suite.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(suite.base_url + "/Api/V8/module/Contacts", headers=headers)
    suite.start()
    assert suite.port == port
    answer = httpx.get(f"{suite.base_url}/Api/V8/module/Contacts/{record['id']}", headers=headers)
    assert answer.status_code == 200
