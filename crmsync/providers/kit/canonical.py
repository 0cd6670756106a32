"""Canonical data or a failure naming the fields: written once for every provider (reading a
CRM's record, and checking a record before it is sent)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pydantic import ValidationError as PydanticValidationError

from crmsync.model.canonical import canonicalize

MakeError = Callable[[str, dict[str, str]], Exception]


def refused_fields(exc: PydanticValidationError, entity: str) -> dict[str, str]:
    """``{"cpf": "CPF inválido", ...}`` from the canonical model's refusal."""
    fields: dict[str, str] = {}
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or entity
        fields[loc] = str(err["msg"]).removeprefix("Value error, ")
    return fields


def canonical_or_fail(
    entity: str,
    data: Mapping[str, Any],
    make_error: MakeError,
    *,
    partial: bool = True,
    what: str = "registro inválido",
) -> dict[str, Any]:
    """`data` canonicalized, or ``make_error("<what> (campo: motivo; ...)", fields)`` raised."""
    try:
        return canonicalize(entity, dict(data), partial=partial)
    except PydanticValidationError as exc:
        fields = refused_fields(exc, entity)
        detail = "; ".join(f"{k}: {v}" for k, v in fields.items())
        raise make_error(f"{what} ({detail})", fields) from None


__all__ = ["canonical_or_fail", "refused_fields"]
