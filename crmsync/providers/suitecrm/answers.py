"""Reading SuiteCRM's answers: JSON:API documents, its error shapes, what each error means.

Every V8 error is a 400 with an ``errors`` object (an unknown id is "... with id X is not
found"); OAuth errors carry ``error``/``error_description``; a proxy answers HTML. Kept apart
from the provider so the provider reads as the API's use, this as the API's answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from crmsync import fastjson
from crmsync.providers.base import AuthError, FatalError, NotFoundError, ProtocolError, ProviderError, ValidationError


def errors_detail(body: Any) -> str | None:
    """The message(s) of a JSON:API ``errors`` member (SuiteCRM sends one object; the
    spec says an array) or of an OAuth error body."""
    if not isinstance(body, Mapping):
        return None
    errors = body.get("errors")
    items = errors if isinstance(errors, list) else [errors] if isinstance(errors, Mapping) else []
    texts = []
    for item in items:
        if isinstance(item, Mapping):
            text = item.get("detail") or item.get("title")
            if text:
                texts.append(str(text))
    if texts:
        return "; ".join(texts)
    for key in ("error_description", "message", "error"):
        if isinstance(body.get(key), str) and body[key]:
            return str(body[key])
    return None


def short(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."


def looks_html(response: httpx.Response) -> bool:
    ctype = response.headers.get("content-type", "").lower()
    return "html" in ctype or response.content.lstrip().startswith(b"<")


def json_or_none(response: httpx.Response) -> Any:
    if not response.content.strip():
        return None
    try:
        return fastjson.loads(response.content)
    except ValueError:
        return None


def document(response: httpx.Response, desc: str) -> Mapping[str, Any]:
    """A JSON:API document of a successful answer, or a ProtocolError naming the request."""
    if looks_html(response):
        raise ProtocolError(
            f"o servidor respondeu uma página HTML em vez de JSON:API: {short(response.text)!r}", request=desc
        )
    body = json_or_none(response)
    if not isinstance(body, Mapping):
        if not response.content.strip():
            raise ProtocolError("o SuiteCRM respondeu um corpo vazio", request=desc)
        raise ProtocolError(f"JSON inválido ou truncado ({len(response.content)} bytes)", request=desc)
    if "data" not in body:
        raise ProtocolError("documento JSON:API sem o membro data", request=desc)
    return body


def invalid_property(detail: str) -> str | None:
    # SuiteCRM: "Property cpf_c in Contact module is invalid"
    words = detail.split()
    if len(words) >= 2 and words[0] == "Property":
        return words[1]
    return None


def classify(response: httpx.Response, desc: str, custom_fields: tuple[str, ...]) -> ProviderError | None:
    """The error an answer means (None: a success); `custom_fields` are the configured
    CPF/CNPJ fields, named when the installation lacks one."""
    status = response.status_code
    if status < 400:
        return None
    body = json_or_none(response)
    detail = errors_detail(body)
    if detail is None and looks_html(response):
        return ProtocolError(
            f"o servidor respondeu uma página HTML (HTTP {status}) em vez de JSON:API: há um proxy "
            "ou a URL base está errada?",
            request=desc,
        )
    detail = detail or f"HTTP {status} sem mensagem"
    if status in (401, 403):
        return AuthError(f"o SuiteCRM recusou o acesso (HTTP {status}): {short(detail, 200)}", request=desc)
    if status == 404:
        return FatalError("endereço inexistente no SuiteCRM (HTTP 404): confira a URL base", request=desc)
    lowered = detail.lower()
    missing = [f for f in custom_fields if f in detail.split()]
    if "field" in lowered and "not found" in lowered and missing:
        # "The following field in Contact module is not found: cpf_c"
        return ProtocolError(
            f"o campo personalizado '{missing[0]}' não existe nesta instalação do SuiteCRM: crie-o ou "
            f"ajuste opcoes_provedor (campo_cpf/campo_cnpj) — {short(detail, 200)}",
            request=desc,
        )
    if "with id" in lowered and "not found" in lowered:
        return NotFoundError(f"registro não encontrado no SuiteCRM: {short(detail, 200)}", request=desc)
    if status in (400, 422):
        field = invalid_property(detail)
        fields = {field: detail} if field else {}
        if field and field in custom_fields:
            return ValidationError(
                f"o campo personalizado '{field}' não existe nesta instalação do SuiteCRM: crie-o ou "
                f"ajuste opcoes_provedor (campo_cpf/campo_cnpj) — {short(detail, 200)}",
                fields=fields,
                request=desc,
            )
        return ValidationError(f"o SuiteCRM recusou os dados: {short(detail, 200)}", fields=fields, request=desc)
    return FatalError(f"o SuiteCRM recusou a requisição (HTTP {status}): {short(detail, 200)}", request=desc)
