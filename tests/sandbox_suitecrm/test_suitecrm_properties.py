"""Property tests of the SuiteCRM sandbox's pure parts: stamps, query parsing, paging over the store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from crmsync.sandbox.formats import SandboxClock
from crmsync.sandbox.suitecrm.modules import MODULES, as_attribute
from crmsync.sandbox.suitecrm.query import parse_listing
from crmsync.sandbox.suitecrm.store import ListQuery, SuiteCrmStore, api_stamp, db_stamp, parse_stamp

_moments = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)).map(
    lambda d: d.replace(microsecond=0)
)
_offsets = st.integers(min_value=-12 * 60, max_value=14 * 60).map(lambda m: timedelta(minutes=m))


@given(moment=_moments, offset=_offsets)
def test_a_stamp_means_the_same_instant_in_every_accepted_spelling(moment: datetime, offset: timedelta) -> None:
    local = moment.astimezone(timezone(offset))
    for spelling in (
        local.isoformat(),
        moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        moment.strftime("%Y-%m-%d %H:%M:%S"),
        api_stamp(db_stamp(moment)),
    ):
        assert parse_stamp(spelling) == moment


@given(
    size=st.integers(min_value=1, max_value=500),
    number=st.integers(min_value=1, max_value=500),
    descending=st.booleans(),
    field=st.sampled_from(["date_modified", "id", "last_name"]),
    op=st.sampled_from(["eq", "neq", "gt", "gte", "lt", "lte"]),
)
def test_listing_parameters_parse_to_their_window(
    size: int, number: int, descending: bool, field: str, op: str
) -> None:
    spec = MODULES["Contacts"]
    items = [
        ("page[size]", str(size)),
        ("page[number]", str(number)),
        ("sort", ("-" if descending else "") + field),
        (f"filter[{field}][{op.upper()}]", "2026-01-01T00:00:00+00:00"),
        ("filter[operator]", "and"),
    ]
    parsed = parse_listing(spec, items, spec.attributes)
    assert (parsed.listing.offset, parsed.listing.limit) == ((number - 1) * size, size)
    assert (parsed.listing.sort, parsed.listing.descending) == (field, descending)
    assert [(c.field, c.op) for c in parsed.listing.conditions] == [(field, op)]


@given(value=st.decimals(min_value=-(10**9), max_value=10**9, places=2, allow_nan=False))
def test_currency_is_a_six_decimal_string(value: object) -> None:
    text = as_attribute(value, currency=True)
    whole, _, decimals = text.partition(".")
    assert len(decimals) == 6 and whole.lstrip("-").isdigit()


@settings(max_examples=40, deadline=None)
@given(
    count=st.integers(min_value=0, max_value=40),
    deleted=st.sets(st.integers(min_value=0, max_value=39), max_size=10),
    size=st.integers(min_value=1, max_value=12),
    sort=st.sampled_from(["id", "date_modified", "last_name", None]),
    minutes=st.lists(st.integers(min_value=0, max_value=3), min_size=40, max_size=40),
)
def test_walking_every_page_without_writes_yields_each_live_bean_once(
    count: int, deleted: set[int], size: int, sort: str | None, minutes: list[int]
) -> None:
    store = SuiteCrmStore(None, SandboxClock())
    base = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    ids = []
    for i in range(count):
        bean = store.create("Contacts", {"last_name": f"N{minutes[i]}"})  # many ties on purpose
        store.set_date_modified("Contacts", bean["id"], base + timedelta(minutes=minutes[i]))
        ids.append(bean["id"])
    for i in deleted:
        if i < count:
            store.delete("Contacts", ids[i])
    live = {bean_id for i, bean_id in enumerate(ids) if i not in deleted}
    seen: list[str] = []
    number = 1
    while True:
        page = store.list_page("Contacts", ListQuery(sort=sort, offset=(number - 1) * size, limit=size))
        assert page.total == len(live)
        if not page.rows:
            break
        seen += [r["id"] for r in page.rows]
        number += 1
    assert sorted(seen) == sorted(live)
