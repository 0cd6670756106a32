"""The orjson paths give what the standard library gives: the canonical hash byte for byte
(it is stored on every link, so a release must not change it), and the same values parsed."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from crmsync import fastjson

_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.text(),
    st.dates(),
    st.datetimes(timezones=st.just(UTC)),
    st.decimals(allow_nan=False, allow_infinity=False),
)
_values = st.recursive(
    _leaf,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=20,
)


def _reference(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


@given(_values)
def test_canonical_bytes_match_the_standard_library(value: Any) -> None:
    try:
        expected = _reference(value)
    except (UnicodeEncodeError, ValueError):  # lone surrogates: both refuse
        return
    assert fastjson.canonical_json_bytes(value) == expected


def test_edges_fall_back_to_the_standard_library() -> None:
    big = {"n": 2**70, 1: "int key"}
    assert fastjson.canonical_json_bytes({"n": 2**70}) == _reference({"n": 2**70})
    assert fastjson.dumps(big) == json.dumps(big)
    assert fastjson.loads(b'{"x": NaN}')["x"] != fastjson.loads(b'{"x": NaN}')["x"]  # NaN, as json reads it
    assert fastjson.canonical_json_bytes(
        {"d": date(2024, 1, 2), "t": datetime(2024, 1, 2, 3, 4, tzinfo=UTC), "v": Decimal("1.5000")}
    ) == _reference({"d": date(2024, 1, 2), "t": datetime(2024, 1, 2, 3, 4, tzinfo=UTC), "v": Decimal("1.5000")})


@given(_values)
def test_stored_json_reads_back_the_same(value: Any) -> None:
    try:
        text = json.dumps(value, default=str)
    except (UnicodeEncodeError, ValueError):
        return
    plain = json.loads(text)  # what a JSON column holds: JSON types only
    assert fastjson.loads(fastjson.dumps(plain)) == plain
    assert fastjson.loads(text.encode()) == plain
