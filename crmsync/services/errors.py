"""Errors the services raise, each with the HTTP status it means, and the one JSON shape of a
validation error (`[{"loc", "campo", "msg", "type"}]`, messages in Portuguese, the rejected
input never echoed: it may hold a secret).

They subclass `LookupError`/`ValueError` so the CLI's `user_errors()` turns them into a
one-line message with exit code 2 without knowing about them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import ValidationError

_LOCATIONS = ("body", "query", "path", "header")
_MESSAGES: dict[str, str] = {
    "missing": "campo obrigatório",
    "extra_forbidden": "campo desconhecido",
    "json_invalid": "JSON inválido",
    "int_parsing": "deve ser um número inteiro",
    "int_type": "deve ser um número inteiro",
    "int_from_float": "deve ser um número inteiro",
    "string_type": "deve ser texto",
    "bool_parsing": "deve ser true ou false",
    "bool_type": "deve ser true ou false",
    "decimal_parsing": "deve ser um número",
    "decimal_type": "deve ser um número",
    "finite_number": "deve ser um número finito",
    "date_parsing": "data inválida (use AAAA-MM-DD)",
    "date_from_datetime_parsing": "data inválida (use AAAA-MM-DD)",
    "date_type": "data inválida (use AAAA-MM-DD)",
    "datetime_parsing": "data e hora inválidas (use ISO 8601)",
    "datetime_from_date_parsing": "data e hora inválidas (use ISO 8601)",
    "list_type": "deve ser uma lista",
    "model_type": "deve ser um objeto",
    "dict_type": "deve ser um objeto",
    "model_attributes_type": "deve ser um objeto",
}
_WITH_LIMIT: dict[str, tuple[str, str]] = {
    "greater_than_equal": ("ge", "deve ser maior ou igual a {}"),
    "greater_than": ("gt", "deve ser maior que {}"),
    "less_than": ("lt", "deve ser menor que {}"),
    "less_than_equal": ("le", "deve ser menor ou igual a {}"),
    "string_too_long": ("max_length", "no máximo {} caracteres"),
    "string_too_short": ("min_length", "no mínimo {} caracteres"),
    "literal_error": ("expected", "valor inválido (use {})"),
}


def _message(err: Mapping[str, Any]) -> str:
    kind = str(err.get("type", ""))
    if kind in _MESSAGES:
        return _MESSAGES[kind]
    ctx = err.get("ctx") or {}
    if kind in _WITH_LIMIT and _WITH_LIMIT[kind][0] in ctx:
        key, template = _WITH_LIMIT[kind]
        return template.format(ctx[key])
    msg = str(err.get("msg", "")).removeprefix("Value error, ")
    field = str(err["loc"][-1]) if err.get("loc") else ""
    return msg[len(field) + 2 :] if field and msg.startswith(field + ": ") else msg


def validation_detail(errors: Iterable[Mapping[str, Any]], prefix: tuple[str | int, ...] = ()) -> list[dict[str, Any]]:
    """Pydantic/FastAPI errors in our shape; `campo` is the field path without the location."""
    detail = []
    for err in errors:
        loc = [*prefix, *err.get("loc", ())]
        path = [p for p in loc if p not in _LOCATIONS] if err.get("type") != "json_invalid" else []
        detail.append(
            {
                "loc": loc,
                "campo": ".".join(str(p) for p in path),
                "msg": _message(err),
                "type": str(err.get("type", "value_error")),
            }
        )
    return detail


class ServiceError(Exception):
    status_code: int = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def detail(self) -> Any:
        return self.message


class NotFoundError(ServiceError, LookupError):
    """The row does not exist *for this store* (another store's row is reported the same way)."""

    status_code = 404


class DuplicateError(ServiceError, ValueError):
    """Another live row of the same store already holds a unique key (CPF, CNPJ, e-mail...)."""

    status_code = 409


class InvalidInputError(ServiceError, ValueError):
    """Input refused, with the offending field named; `str()` is one line for the CLI."""

    status_code = 422

    def __init__(
        self, message: str, loc: tuple[str | int, ...] = (), *, errors: list[dict[str, Any]] | None = None
    ) -> None:
        self.errors = errors or validation_detail(
            [{"loc": loc, "msg": message, "type": "value_error"}], prefix=("body",)
        )
        first = self.errors[0]
        super().__init__(f"{first['campo']}: {first['msg']}" if first["campo"] else first["msg"])

    @classmethod
    def from_validation(cls, exc: ValidationError) -> InvalidInputError:
        errors = validation_detail(exc.errors(include_url=False), prefix=("body",))
        return cls(errors[0]["msg"], errors=errors)

    def detail(self) -> Any:
        return self.errors
