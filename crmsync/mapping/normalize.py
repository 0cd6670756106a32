"""Normalisers: one canonical spelling for every value, so the two sides compare equal
when they mean the same thing ("123.456.789-09" and "12345678909"; "(11) 3522-8899" and
"+551135228899"; "Maria@X.com " and "maria@x.com").

Each raises `NormalizationError(field, message)` on a value that cannot be right (a CPF
with a wrong check digit), so bad input is refused with the field named.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import email_validator
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


# validate_docbr's check-digit rules, computed directly for plain ASCII digits (its
# per-call regex and list building cost ~6 µs a document); other input goes through it.
_CPF_WEIGHTS_1 = tuple(range(10, 1, -1))
_CPF_WEIGHTS_2 = tuple(range(11, 1, -1))
_CNPJ_WEIGHTS_1 = (*range(5, 1, -1), *range(9, 1, -1))
_CNPJ_WEIGHTS_2 = (*range(6, 1, -1), *range(9, 1, -1))


def _checked(
    d: str, length: int, reference: Callable[[str], Any], check: Callable[[list[int]], tuple[int, int]]
) -> bool:
    """Whether `d` carries its two check digits: `check` computes them for `length` plain
    ASCII digits (one repeated digit is never valid); other input goes through `reference`."""
    if len(d) != length or not d.isascii():
        return bool(reference(d))
    if len(set(d)) == 1:
        return False
    nums = [ord(ch) - 48 for ch in d]
    return check(nums) == (nums[-2], nums[-1])


def _cpf_check(nums: list[int]) -> tuple[int, int]:
    first = sum(x * w for x, w in zip(nums, _CPF_WEIGHTS_1, strict=False)) * 10 % 11 % 10
    second = sum(x * w for x, w in zip(nums, _CPF_WEIGHTS_2, strict=False)) * 10 % 11 % 10
    return first, second


def _cnpj_check(nums: list[int]) -> tuple[int, int]:
    r1 = sum(x * w for x, w in zip(nums, _CNPJ_WEIGHTS_1, strict=False)) % 11
    r2 = sum(x * w for x, w in zip(nums, _CNPJ_WEIGHTS_2, strict=False)) % 11
    return (0 if r1 < 2 else 11 - r1), (0 if r2 < 2 else 11 - r2)


def _cpf_valid(d: str) -> bool:
    return _checked(d, 11, _CPF.validate, _cpf_check)


def _cnpj_valid(d: str) -> bool:
    return _checked(d, 14, _CNPJ.validate, _cnpj_check)


def _document(value: str | None, field: str, length: int, valid: Callable[[str], Any], name: str) -> str | None:
    """A CPF or CNPJ as its digits, None when blank; refused unless it has `length` digits
    that pass `valid` (the check digits)."""
    d = digits(value)
    if not d:
        return None
    if len(d) != length or not valid(d):
        raise NormalizationError(field, f"{name} inválido (dígito verificador)")
    return d


def _normalize_cpf_reference(value: str | None, field: str = "cpf") -> str | None:
    """The reference (slow) path; `normalize_cpf` must always agree with it."""
    return _document(value, field, 11, _CPF.validate, "CPF")


def normalize_cpf(value: str | None, field: str = "cpf") -> str | None:
    return _document(value, field, 11, _cpf_valid, "CPF")


def _normalize_cnpj_reference(value: str | None, field: str = "cnpj") -> str | None:
    """The reference (slow) path; `normalize_cnpj` must always agree with it."""
    return _document(value, field, 14, _CNPJ.validate, "CNPJ")


def normalize_cnpj(value: str | None, field: str = "cnpj") -> str | None:
    return _document(value, field, 14, _cnpj_valid, "CNPJ")


# Fast path for e-mails already in the plain, common form: lower-case ASCII local part of
# letters/digits with single "._+-" separators, lower-case ASCII host labels (single inner
# hyphens, so never "xn--" or "ab--"), an all-letter TLD, and short enough that no length
# limit of email_validator (local 64, label 63, domain 253, address 254) can be reached.
# email_validator returns such an address unchanged, so skipping it (~30 µs) changes nothing;
# anything else, and special-use domains, take the reference path.
_FAST_EMAIL = re.compile(r"[a-z0-9]+(?:[._+\-][a-z0-9]+)*@(?:[a-z0-9]+(?:-[a-z0-9]+)*\.)+[a-z]{2,24}")
_FAST_EMAIL_MAX = 64


def _email_is_plain(value: str) -> bool:
    if len(value) > _FAST_EMAIL_MAX or _FAST_EMAIL.fullmatch(value) is None:
        return False
    domain = value[value.index("@") + 1 :]
    for special in email_validator.SPECIAL_USE_DOMAIN_NAMES:
        if domain == special or domain.endswith("." + special):
            return False
    return True


def _normalize_email_reference(value: str | None, field: str = "email") -> str | None:
    """The reference (slow) path; `normalize_email` must always agree with it."""
    value = blank_to_none(value)
    if value is None:
        return None
    try:
        result = validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        raise NormalizationError(field, "e-mail inválido") from exc
    return result.normalized.lower()


def normalize_email(value: str | None, field: str = "email") -> str | None:
    if isinstance(value, str):
        stripped = value.strip()
        if _email_is_plain(stripped):
            return stripped
    return _normalize_email_reference(value, field)


# Fast path for Brazilian numbers in the usual spellings: "(11) 3522-8899",
# "(96) 9 9194-9455", "(96) 99194-9455", "1135228899", "+551135228899". With an area code of
# two non-zero digits other than 55 (a leading "55" could be read as the country code, and
# a leading 0 or 90 as a national/carrier prefix) and 10 or 11 national digits,
# phonenumbers parses them to exactly those digits under +55 and finds the length possible,
# so the E.164 form is "+55" + digits; anything else takes the reference path.
_FAST_PHONE_NATIONAL = re.compile(r"\(([1-9][1-9])\) ?((?:9 ?)?[0-9]{4})-?([0-9]{4})|([1-9][1-9])([0-9]{8,9})")
_FAST_PHONE_E164 = re.compile(r"\+55([1-9][1-9][0-9]{8,9})")


def _phone_fast(value: str) -> str | None:
    match = _FAST_PHONE_E164.fullmatch(value)
    if match is not None:
        national = match.group(1)
    else:
        match = _FAST_PHONE_NATIONAL.fullmatch(value)
        if match is None:
            return None
        national = "".join(g for g in match.groups() if g).replace(" ", "")
        if national.startswith("55"):
            return None
    if len(national) not in (10, 11):
        return None
    return "+55" + national


def _normalize_phone_reference(value: str | None, field: str = "telefone") -> str | None:
    """The reference (slow) path; `normalize_phone` must always agree with it."""
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


def normalize_phone(value: str | None, field: str = "telefone") -> str | None:
    if isinstance(value, str):
        fast = _phone_fast(value.strip())
        if fast is not None:
            return fast
    return _normalize_phone_reference(value, field)


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
    try:
        return str(number.quantize(FOUR_PLACES))
    except InvalidOperation as exc:  # more digits than the decimal context holds (1e30)
        raise NormalizationError(field, "número fora do intervalo aceito") from exc


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
    """ "+551135228899" -> "(11) 3522-8899", the way GestãoClick shows phones."""
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
