"""Value conventions of the real GestãoClick API (strings everywhere, formatted documents).

The real service stores CPF/CNPJ/phones formatted and answers numbers as strings with a fixed
number of decimals; clients must cope with that, so the sandbox reproduces it faithfully.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any

from crmsync.mapping import normalize

try:
    from zoneinfo import ZoneInfo

    SAO_PAULO: tzinfo = ZoneInfo("America/Sao_Paulo")
except Exception:  # pragma: no cover - no tz database; Brazil has had no DST since 2019
    SAO_PAULO = timezone(timedelta(hours=-3), "America/Sao_Paulo")

_NON_DIGITS = re.compile(r"\D+")


def digits(value: Any) -> str:
    """Only the digits of a value (``None`` -> ``""``)."""
    if value is None:
        return ""
    return _NON_DIGITS.sub("", str(value))


def blank_to_none(value: Any) -> Any:
    """The real API answers empty strings as ``null``."""
    if isinstance(value, str) and value.strip() == "":
        return None
    return value


def as_str(value: Any) -> str | None:
    """Scalars become strings (ids, numbers); blanks become ``None``."""
    value = blank_to_none(value)
    if value is None:
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _masked(value: Any, length: int, mask: Callable[[str], str | None]) -> str | None:
    """A document stored formatted (the masks are crmsync's own, the Brazilian ones) when it
    has its length in digits; anything else as it was sent."""
    d = digits(value)
    return mask(d) if len(d) == length else as_str(value)


def format_cpf(value: Any) -> str | None:
    return _masked(value, 11, normalize.format_cpf)


def format_cnpj(value: Any) -> str | None:
    return _masked(value, 14, normalize.format_cnpj)


def format_phone(value: Any) -> str | None:
    """``(11) 3522-8899`` for landlines, ``(96) 9 9194-9455`` for mobiles (as in the docs)."""
    d = digits(value)
    if len(d) in (12, 13) and d.startswith("55"):
        d = d[2:]
    if len(d) == 10:
        return f"({d[:2]}) {d[2:6]}-{d[6:]}"
    if len(d) == 11:
        return f"({d[:2]}) {d[2]} {d[3:7]}-{d[7:]}"
    return as_str(value)


def format_cep(value: Any) -> str | None:
    return _masked(value, 8, normalize.format_cep)


def parse_decimal(value: Any) -> Decimal | None:
    """Accept ``"1,550"``, ``"1.234,56"``, ``12``, ``"80.0000"``; ``None`` when not a number."""
    value = blank_to_none(value)
    if value is None:
        return None
    if isinstance(value, bool):
        return Decimal(int(value))
    if isinstance(value, int | Decimal):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value))
    text = str(value).strip().replace("R$", "").replace(" ", "")
    if "," in text:
        text = text.replace(".", "").replace(",", ".") if "." in text else text.replace(",", ".")
    try:
        number = Decimal(text)
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def fmt_decimal(value: Any, places: int) -> str | None:
    """A number as the API writes it: a string with a fixed number of decimals."""
    number = parse_decimal(value)
    if number is None:
        return None
    quant = Decimal(1).scaleb(-places)
    return str(number.quantize(quant))


def is_decimal(value: Any) -> bool:
    return blank_to_none(value) is None or parse_decimal(value) is not None


def parse_int(value: Any) -> int | None:
    """An int from ``5``, ``"5"``, ``"5.00"``; ``None`` otherwise."""
    number = parse_decimal(value)
    if number is None or number != number.to_integral_value():
        return None
    return int(number)


def flag(value: Any, default: str = "1") -> str:
    """Booleans as the API writes them: ``"0"``/``"1"``."""
    value = blank_to_none(value)
    if value is None:
        return default
    if isinstance(value, str):
        return "0" if value.strip().lower() in ("0", "false", "nao", "não", "n", "inativo") else "1"
    return "1" if value else "0"


def parse_date(value: Any) -> date | None:
    value = blank_to_none(value)
    if value is None:
        return None
    text = str(value).strip()[:10]
    for pattern in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            return datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    return None


class SandboxClock:
    """Wall clock with an adjustable offset, to let tests simulate clock skew or a new day."""

    def __init__(self, offset_seconds: float = 0.0) -> None:
        self.offset_seconds = float(offset_seconds)

    def time(self) -> float:
        return time.time() + self.offset_seconds

    def now_local(self) -> datetime:
        return datetime.fromtimestamp(self.time(), SAO_PAULO)

    def now_utc(self) -> datetime:
        return datetime.fromtimestamp(self.time(), UTC)

    def stamp(self) -> str:
        """``YYYY-MM-DD HH:MM:SS`` in São Paulo local time, no offset, as the API shows."""
        return self.now_local().strftime("%Y-%m-%d %H:%M:%S")

    def today(self) -> str:
        return self.now_local().strftime("%Y-%m-%d")

    def seconds_to_midnight(self) -> int:
        now = self.now_local()
        tomorrow = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
        return max(1, int((tomorrow - now).total_seconds()) + 1)
