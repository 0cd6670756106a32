"""Row ids are 32-bit integers on every backend. PostgreSQL refuses to even compare an
INTEGER column with a larger bound value ("integer out of range"), so an id beyond the
range must be answered as "no such row" before it reaches a query."""

from __future__ import annotations

MAX_ID = 2**31 - 1


def valid_id(value: int) -> bool:
    return 1 <= value <= MAX_ID


# Offsets far past any table; larger ones (2^63 overflows every driver) are refused.
MAX_OFFSET = 2**62
