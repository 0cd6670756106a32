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

from crmsync.model.messages import validation_message as _message

_LOCATIONS = ("body", "query", "path", "header")


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
