"""Listing of the SuiteCRM sandbox: paging, sort, fields, filters, and the quirks of the reference
(minute-precision ``date_modified``, ties across pages, deleted records not listed)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from crmsync.sandbox.suitecrm import SuiteCrmSandboxServer
from tests.sandbox_suitecrm.conftest import create, list_ids

T0 = datetime(2026, 3, 10, 14, 30, tzinfo=UTC)


def _ids(n: int) -> list[str]:
    """Client-chosen ids in ascending order, so ``sort=id`` order is known."""
    return [f"00000000-0000-4000-8000-{i:012d}" for i in range(1, n + 1)]


def _seed_contacts(suite: SuiteCrmSandboxServer, n: int, stamp: datetime | None = None) -> list[str]:
    ids = _ids(n)
    for i, bean_id in enumerate(ids):
        suite.store.create("Contacts", {"first_name": f"Pessoa{i}", "last_name": "Teste"}, bean_id)
        suite.store.set_date_modified("Contacts", bean_id, stamp or T0 + timedelta(minutes=i))
    return ids


def _page(api: httpx.Client, module: str, **params: Any) -> dict[str, Any]:
    answer = api.get(f"/Api/V8/module/{module}", params=params)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def test_paging_meta_and_links(api: httpx.Client, suite: SuiteCrmSandboxServer) -> None:
    ids = _seed_contacts(suite, 7)
    seen: list[str] = []
    for number in (1, 2, 3):
        body = _page(api, "Contacts", **{"page[size]": 3, "page[number]": number, "sort": "id"})
        assert body["meta"]["total-pages"] == 3
        assert body["meta"]["records-on-this-page"] == (3 if number < 3 else 1)
        seen += [r["id"] for r in body["data"]]
        links = body["links"]
        assert (links["first"] is None) == (links["prev"] is None) == (number == 1)
        assert (links["next"] is None) == (links["last"] is None) == (number == 3)
        if links["next"]:
            # Relative to {base_url}/Api/, page[number] kept in its place, decoded (as SuiteCRM builds it).
            assert links["next"] == f"V8/module/Contacts?page[size]=3&page[number]={number + 1}&sort=id"
            assert links["last"] == "V8/module/Contacts?page[size]=3&page[number]=3&sort=id"
    assert seen == ids
    # Without page[number] SuiteCRM serves page 1 as "number 0": its next link points to page 1 again.
    body = _page(api, "Contacts", **{"page[size]": 3})
    assert [r["id"] for r in body["data"]] == ids[:3]
    assert body["links"]["next"] == "V8/module/Contacts?page[size]=3&page[number]=1"


def test_without_page_size_everything_comes_without_meta(api: httpx.Client, suite: SuiteCrmSandboxServer) -> None:
    ids = _seed_contacts(suite, 5)
    body = _page(api, "Contacts")
    assert "meta" not in body and "links" not in body
    assert [r["id"] for r in body["data"]] == ids


def test_an_empty_page_carries_only_a_message(api: httpx.Client, suite: SuiteCrmSandboxServer) -> None:
    _seed_contacts(suite, 2)
    body = _page(api, "Contacts", **{"page[size]": 5, "page[number]": 2})
    assert body == {"meta": {"message": "Request was successful, but there is no result"}, "data": []}


def test_sort_ascending_and_descending(api: httpx.Client, suite: SuiteCrmSandboxServer) -> None:
    ids = _seed_contacts(suite, 4)
    assert list_ids(api, "Contacts", sort="date_modified") == ids
    assert list_ids(api, "Contacts", sort="-date_modified") == ids[::-1]
    assert list_ids(api, "Contacts", sort="-id") == ids[::-1]
    assert list_ids(api, "Contacts", sort="first_name") == ids


def test_fields_limit_the_attributes(api: httpx.Client, suite: SuiteCrmSandboxServer) -> None:
    ids = _seed_contacts(suite, 1)
    body = _page(api, "Contacts", **{"fields[Contacts]": "first_name,date_modified"})
    assert set(body["data"][0]["attributes"]) == {"first_name", "date_modified"}
    only_id = _page(api, "Contacts", **{"fields[Contacts]": "id"})
    assert only_id["data"][0]["id"] == ids[0] and only_id["data"][0]["attributes"] == []
    one = api.get(f"/Api/V8/module/Contacts/{ids[0]}", params={"fields[Contacts]": "last_name"})
    assert one.json()["data"]["attributes"] == {"last_name": "Teste"}
    bad = api.get("/Api/V8/module/Contacts", params={"fields[Contacts]": "first_name,cnpj_c,nope"})
    assert bad.status_code == 400
    assert bad.json()["errors"]["detail"] == "The following fields in Contact module are not found: cnpj_c, nope"


def test_date_filters_with_each_operator(api: httpx.Client, suite: SuiteCrmSandboxServer) -> None:
    ids = _seed_contacts(suite, 5)  # stamps T0, T0+1min, ... T0+4min
    at = (T0 + timedelta(minutes=2)).isoformat()
    expected = {
        "gt": ids[3:],
        "gte": ids[2:],
        "lt": ids[:2],
        "lte": ids[:3],
        "eq": [ids[2]],
        "neq": ids[:2] + ids[3:],
    }
    for op, wanted in expected.items():
        assert list_ids(api, "Contacts", sort="id", **{f"filter[date_modified][{op}]": at}) == wanted, op
    # 'Z' and the database form are the same instant.
    z = (T0 + timedelta(minutes=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert list_ids(api, "Contacts", sort="id", **{"filter[date_modified][gte]": z}) == ids[2:]
    assert list_ids(api, "Contacts", sort="id", **{"filter[date_modified][gte]": "2026-03-10 14:32:00"}) == ids[2:]


def test_filters_combine_with_and_or(api: httpx.Client, suite: SuiteCrmSandboxServer) -> None:
    ids = _seed_contacts(suite, 4)
    params = {
        "sort": "id",
        "filter[first_name][eq]": "Pessoa0",
        "filter[date_modified][gte]": (T0 + timedelta(minutes=3)).isoformat(),
    }
    assert list_ids(api, "Contacts", **params) == []
    assert list_ids(api, "Contacts", **params, **{"filter[operator]": "and"}) == []
    assert list_ids(api, "Contacts", **{**params, "filter[first_name][eq]": "Pessoa3"}) == [ids[3]]
    # SuiteCRM joins its own ``deleted = 0`` with the same operator (JsonApi/Repository/Filter.php),
    # so under ``or`` every live record matches...
    assert list_ids(api, "Contacts", **params, **{"filter[operator]": "or"}) == ids
    # ...and a deleted one that matches a condition too, which then fails the page (see below).
    suite.store.delete("Contacts", ids[0])
    answer = api.get("/Api/V8/module/Contacts", params={**params, "filter[operator]": "or"})
    assert answer.status_code == 400
    assert answer.json()["errors"]["detail"] == f"Contacts module with id {ids[0]} is not found"


def test_deleted_records_are_not_listed_and_cannot_be_asked_for(
    api: httpx.Client, suite: SuiteCrmSandboxServer
) -> None:
    ids = _seed_contacts(suite, 3)
    assert api.delete(f"/Api/V8/module/Contacts/{ids[1]}").status_code == 200
    assert list_ids(api, "Contacts", sort="id") == [ids[0], ids[2]]
    assert _page(api, "Contacts", **{"page[size]": 10})["meta"]["total-pages"] == 1
    # SuiteCRM's filter only adds deleted=0 when the client does not filter on it, but it then
    # reloads each listed bean without deleted ones: asking for deleted rows is a 400.
    answer = api.get("/Api/V8/module/Contacts", params={"filter[deleted][eq]": "1"})
    assert answer.status_code == 400
    assert answer.json()["errors"]["detail"] == f"Contacts module with id {ids[1]} is not found"
    # The delete moved the stamp (mark_deleted saves the bean).
    gone = suite.store.get("Contacts", ids[1], include_deleted=True)
    assert gone["deleted"] == "1"
    assert gone["date_modified"] > (T0 + timedelta(minutes=2)).isoformat()


def test_date_modified_is_cut_to_the_minute_and_gt_misses_same_minute_edits(
    api: httpx.Client, suite: SuiteCrmSandboxServer
) -> None:
    # Pin the clock to 10 s past a minute so both edits below fall in that same minute.
    now = datetime.now(UTC)
    target = now.replace(second=10, microsecond=0) + timedelta(minutes=5)
    suite.set_clock_offset((target - now).total_seconds())
    first = create(api, "Contacts", {"last_name": "Primeiro"})
    stamp = first["attributes"]["date_modified"]
    assert stamp.endswith(":00+00:00")
    assert datetime.fromisoformat(stamp) == target.replace(second=0)
    # A client reads now and keeps the stamp as its watermark...
    assert list_ids(api, "Contacts", **{"filter[date_modified][gt]": "2000-01-01T00:00:00+00:00"}) == [first["id"]]
    suite.advance_clock(30)  # ...then, 30 s later (same minute), someone edits another contact.
    second = create(api, "Contacts", {"last_name": "Segundo"})
    assert second["attributes"]["date_modified"] == stamp
    assert list_ids(api, "Contacts", **{"filter[date_modified][gt]": stamp}) == []  # lost by a gt watermark
    assert set(list_ids(api, "Contacts", **{"filter[date_modified][gte]": stamp})) == {first["id"], second["id"]}


def test_seconds_are_kept_when_the_user_format_shows_them() -> None:
    with SuiteCrmSandboxServer(stamp_seconds=True) as suite:
        now = datetime.now(UTC)
        target = now.replace(second=42, microsecond=0) + timedelta(minutes=5)
        suite.set_clock_offset((target - now).total_seconds())
        record = suite.store.create("Contacts", {"last_name": "Com Segundos"})
        assert record["date_modified"].endswith(":42+00:00")


def test_an_edit_during_a_date_sorted_listing_repeats_and_skips(
    api: httpx.Client, suite: SuiteCrmSandboxServer
) -> None:
    ids = _seed_contacts(suite, 10, stamp=T0)  # all tied on one minute
    params = {"sort": "date_modified", "page[size]": 5}
    page1 = [r["id"] for r in _page(api, "Contacts", **params, **{"page[number]": 1})["data"]]
    # Someone edits a contact the reader already has; it moves to the end of the order.
    answer = api.patch(
        "/Api/V8/module", json={"data": {"type": "Contacts", "id": page1[0], "attributes": {"title": "Sr."}}}
    )
    assert answer.status_code == 201
    page2 = [r["id"] for r in _page(api, "Contacts", **params, **{"page[number]": 2})["data"]]
    assert page1[0] in page2  # read twice
    assert set(page1) | set(page2) != set(ids)  # and another one never read


def test_tied_stamps_reshuffle_across_pages_when_data_changes() -> None:
    with SuiteCrmSandboxServer() as suite, httpx.Client(base_url=suite.base_url, headers=suite.headers()) as api:
        ids = _seed_contacts(suite, 10, stamp=T0)
        params = {"sort": "date_modified", "page[size]": 5}
        first = [r["id"] for r in _page(api, "Contacts", **params, **{"page[number]": 1})["data"]]
        # Without any write, the same query answers the same order.
        assert [r["id"] for r in _page(api, "Contacts", **params, **{"page[number]": 1})["data"]] == first
        reshuffled = False
        for n in range(20):
            # A write elsewhere (another module) changes no contact, yet ties come back differently.
            create(api, "Accounts", {"name": f"Empresa {n}"})
            second = [r["id"] for r in _page(api, "Contacts", **params, **{"page[number]": 2})["data"]]
            if set(first) | set(second) != set(ids):
                reshuffled = True
                break
        assert reshuffled
        # Sorting by id is stable whatever happens elsewhere.
        by_id = [r["id"] for r in _page(api, "Contacts", sort="id", **{"page[size]": 5, "page[number]": 1})["data"]]
        create(api, "Accounts", {"name": "Mais uma"})
        rest = [r["id"] for r in _page(api, "Contacts", sort="id", **{"page[size]": 5, "page[number]": 2})["data"]]
        assert by_id + rest == ids


def test_stable_ties_when_configured() -> None:
    with (
        SuiteCrmSandboxServer(unstable_ties=False) as suite,
        httpx.Client(base_url=suite.base_url, headers=suite.headers()) as api,
    ):
        ids = _seed_contacts(suite, 6, stamp=T0)
        create(api, "Accounts", {"name": "Outra"})
        assert list_ids(api, "Contacts", sort="date_modified") == ids


def test_listings_of_each_module(api: httpx.Client) -> None:
    product = create(api, "AOS_Products", {"name": "Caneta Azul", "price": "2.5", "cost": 0.8, "part_number": "CAN-01"})
    account = create(api, "Accounts", {"name": "Papelaria Central LTDA", "billing_address_city": "Curitiba"})
    contact = create(api, "Contacts", {"first_name": "João", "last_name": "Silva"}, str(uuid.uuid4()))
    assert list_ids(api, "AOS_Products") == [product["id"]]
    assert list_ids(api, "Accounts") == [account["id"]]
    assert list_ids(api, "Contacts") == [contact["id"]]
    attrs = product["attributes"]
    assert (attrs["price"], attrs["cost"], attrs["type"]) == ("2.500000", "0.800000", "Good")
    assert product["type"] == "AOS_Products"
