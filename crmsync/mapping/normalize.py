"""Normalisers: one canonical spelling for every value, so the two sides compare equal
when they mean the same thing ("123.456.789-09" and "12345678909"; "(11) 3522-8899" and
"+551135228899"; "Maria@X.com " and "maria@x.com").

Each raises `NormalizationError(field, message)` on a value that cannot be right (a CPF
with a wrong check digit), so bad input is refused with the field named.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from validate_docbr import CNPJ, CPF

_CPF = CPF()
_CNPJ = CNPJ()
_DIGITS = re.compile(r"\D+")
_SPACES = re.compile(r"\s+")
FOUR_PLACES = Decimal("0.0001")


class NormalizationError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def digits(value: str | None) -> str:
    return _DIGITS.sub("", value or "")


def blank_to_none(value: Any) -> Any:
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


def normalize_text(value: str | None) -> str | None:
    """Trim and collapse inner white space; empty becomes None."""
    if value is None:
        return None
    value = _SPACES.sub(" ", str(value)).strip()
    return value or None


def normalize_cpf(value: str | None, field: str = "cpf") -> str | None:
    d = digits(value)
    if not d:
        return None
    if len(d) != 11 or not _CPF.validate(d):
        raise NormalizationError(field, "CPF inválido (dígito verificador)")
    return d


def normalize_cnpj(value: str | None, field: str = "cnpj") -> str | None:
    d = digits(value)
    if not d:
        return None
    if len(d) != 14 or not _CNPJ.validate(d):
        raise NormalizationError(field, "CNPJ inválido (dígito verificador)")
    return d


def normalize_email(value: str | None, field: str = "email") -> str | None:
    value = blank_to_none(value)
    if value is None:
        return None
    try:
        result = validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        raise NormalizationError(field, "e-mail inválido") from exc
    return result.normalized.lower()


def normalize_phone(value: str | None, field: str = "telefone") -> str | None:
    value = blank_to_none(value)
    if value is None:
        return None
    try:
        number = phonenumbers.parse(value, "BR")
    except phonenumbers.NumberParseException as exc:
        raise NormalizationError(field, "telefone inválido") from exc
    if not phonenumbers.is_possible_number(number):
        raise NormalizationError(field, "telefone inválido")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_cep(value: str | None, field: str = "cep") -> str | None:
    d = digits(value)
    if not d:
        return None
    if len(d) != 8:
        raise NormalizationError(field, "CEP deve ter 8 dígitos")
    return d


def normalize_uf(value: str | None, field: str = "estado") -> str | None:
    value = blank_to_none(value)
    if value is None:
        return None
    value = value.upper()
    if not re.fullmatch(r"[A-Z]{2}", value):
        raise NormalizationError(field, "UF deve ter 2 letras")
    return value


def normalize_decimal(value: Any, field: str) -> str | None:
    """Decimals travel as strings with 4 places ("60.0000") so equal amounts compare equal."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    text = str(value).strip()
    if isinstance(value, str) and "," in text and "." not in text:
        text = text.replace(",", ".")  # GestãoClick examples send "1,000"
    try:
        number = Decimal(text)
    except InvalidOperation as exc:
        raise NormalizationError(field, "número inválido") from exc
    if not number.is_finite():
        raise NormalizationError(field, "número inválido")
    return str(number.quantize(FOUR_PLACES))


def normalize_date(value: Any, field: str) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    try:
        return date.fromisoformat(str(value)[:10]).isoformat()
    except ValueError as exc:
        raise NormalizationError(field, "data inválida (use AAAA-MM-DD)") from exc


def format_cpf(d: str | None) -> str | None:
    if not d:
        return None
    return f"{d[:3]}.{d[3:6]}.{d[6:9]}-{d[9:]}"


def format_cnpj(d: str | None) -> str | None:
    if not d:
        return None
    return f"{d[:2]}.{d[2:5]}.{d[5:8]}/{d[8:12]}-{d[12:]}"


def format_phone_br(e164: str | None) -> str | None:
    """"+551135228899" -> "(11) 3522-8899", the way GestãoClick shows phones."""
    if not e164:
        return None
    try:
        number = phonenumbers.parse(e164, "BR")
    except phonenumbers.NumberParseException:
        return e164
    if number.country_code != 55:
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)


def format_cep(d: str | None) -> str | None:
    if not d:
        return None
    return f"{d[:5]}-{d[5:]}"
