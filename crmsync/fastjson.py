"""JSON through orjson where a large pull spends its time, with the standard library's
exact behaviour kept.

Why: every pulled record is decoded from the HTTP answer, hashed three times (the remote
version, the base snapshot, the local row's fingerprint) and stored once as JSON; with the
standard library that was about a sixth of the whole pull. orjson does the same in C.

The hash must not change between releases (it is stored on every link): for the values a
canonical record holds (str, int, bool, None, lists, dicts with str keys, and dates and
decimals through ``default``) orjson's sorted compact UTF-8 output is byte for byte what
``json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)``
gives (a Hypothesis test holds them together). Anything orjson refuses (non-str keys,
integers beyond 64 bits, lone surrogates) goes to the standard library, so behaviour at the
edges is unchanged. Floats never occur in canonical records; their exponent spelling is
the one place the two differ.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

__all__ = ["canonical_json_bytes", "dumps", "loads"]

_CANONICAL = orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
_PLAIN = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def canonical_json_bytes(value: Any) -> bytes:
    """Sorted, compact, UTF-8 JSON; unknown types as ``str(value)``."""
    try:
        return orjson.dumps(value, default=str, option=_CANONICAL)
    except (TypeError, orjson.JSONEncodeError):
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def dumps(value: Any) -> str:
    """What SQLAlchemy stores in a JSON column (its default is ``json.dumps``; readers parse
    it, so only the spelling of non-ASCII text differs: UTF-8 instead of escapes)."""
    try:
        return orjson.dumps(value, option=_PLAIN).decode()
    except (TypeError, orjson.JSONEncodeError):
        return json.dumps(value)


def loads(data: bytes | str) -> Any:
    """Parse JSON; NaN/Infinity literals and integers beyond 64 bits, which orjson refuses,
    are read as the standard library reads them."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)
