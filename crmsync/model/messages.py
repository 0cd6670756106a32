"""Pydantic's validation errors said in Portuguese, in a few words a store user can act on.

One table for every place that shows a validation error: the API's 422 `detail`, the CLI's
one line, and the reason a legacy ERP row does not convert (a failed item's text). Never the
rejected input itself (it may hold a secret) and never pydantic's English text or its URL.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

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


def validation_message(err: Mapping[str, Any]) -> str:
    kind = str(err.get("type", ""))
    if "input" in err and err["input"] is None and kind.endswith("_type"):
        return "vazio"  # a NULL or blank column, not text of the wrong kind
    if kind in _MESSAGES:
        return _MESSAGES[kind]
    ctx = err.get("ctx") or {}
    if kind in _WITH_LIMIT and _WITH_LIMIT[kind][0] in ctx:
        key, template = _WITH_LIMIT[kind]
        return template.format(ctx[key])
    msg = str(err.get("msg", "")).removeprefix("Value error, ")
    field = str(err["loc"][-1]) if err.get("loc") else ""
    return msg[len(field) + 2 :] if field and msg.startswith(field + ": ") else msg


def validation_reasons(errors: Iterable[Mapping[str, Any]]) -> list[str]:
    """`campo: motivo` for each error (the field path joined by dots)."""
    return [
        f"{'.'.join(str(p) for p in err.get('loc', ())) or 'registro'}: {validation_message(err)}" for err in errors
    ]
