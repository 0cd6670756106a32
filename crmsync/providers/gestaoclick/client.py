"""Low-level GestãoClick client: URLs, auth headers, the `{code, status, data, meta}` envelope.

Everything that can be wrong with an answer is turned into the provider error taxonomy
here, so the provider above only deals with well-formed data:

- 400/422 -> ValidationError with the per-field messages when `data` is an object;
- 401/403 -> AuthError; 404 -> NotFoundError; other 4xx -> FatalError;
- 429 / 5xx / timeouts / dropped connections -> raised by the transport (retriable);
- an HTML page, truncated or non-JSON body, an envelope of the wrong shape, or
  `code` != 200 inside an HTTP 200 -> ProtocolError.

The error body's `data` may be a string ("Token inválido") or an object
(`{"nome": "O campo nome é obrigatório."}`); both are read.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Unpack
from urllib.parse import quote, urlsplit

import httpx

from crmsync import fastjson
from crmsync.providers.base import (
    AuthError,
    FatalError,
    NotFoundError,
    ProtocolError,
    ValidationError,
)
from crmsync.providers.kit.http_provider import SendOptions

DEFAULT_BASE_URL = "https://api.gestaoclick.com"


def normalise_base_url(base_url: str) -> tuple[str, str]:
    """Return (base for resources, origin for relative links).

    "https://api.gestaoclick.com/" and "https://api.gestaoclick.com/api" both work: the
    API answers on both, so whatever the user typed is kept, minus trailing slashes.
    """
    url = (base_url or DEFAULT_BASE_URL).strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"URL base inválida: {base_url!r} (use http(s)://host[/api])")
    return url, f"{parts.scheme}://{parts.netloc}"


class RemoteNotFoundError(NotFoundError):
    """404; `attempts` > 1 means an earlier try of the same request may have done the work."""

    def __init__(self, message: str, *, request: str | None = None, attempts: int = 1) -> None:
        super().__init__(message, request=request)
        self.attempts = attempts


@dataclass
class Envelope:
    data: Any
    meta: Any
    request: str
    attempts: int = 1


MESSAGE_LIMIT = 200  # what of a CRM's own words reaches a log, an API answer or a screen
FIELD_LIMIT = 20  # field errors kept from one answer
_TAG = re.compile(r"<[^>]{0,200}>")


def item_path(resource: str, external_id: object) -> str:
    """`resource/<id>` with the id escaped as one path segment: an id from a CRM (or a
    webhook) such as `1/../../admin` or `7?x=1` can never address another resource."""
    return f"{resource}/{quote(str(external_id), safe='')}"


def _short(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """A CRM's text as we repeat it: markup and control characters removed, whitespace
    collapsed, cut at `limit`. Whatever the CRM answers (an HTML error page, a stack trace,
    a megabyte of JSON) is never echoed beyond this short, cleaned message."""
    text = _TAG.sub(" ", str(text))
    text = "".join(c if c.isprintable() else " " for c in text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."


def _error_message(data: Any, fallback: str) -> tuple[str, dict[str, str]]:
    """(message, fields) from an error envelope's `data`, string or object."""
    if isinstance(data, str) and data.strip():
        return _short(data), {}
    if isinstance(data, Mapping):
        fields: dict[str, str] = {}
        for key, value in list(data.items())[:FIELD_LIMIT]:
            if isinstance(value, list):
                text = "; ".join(str(v) for v in value[:FIELD_LIMIT])
            elif isinstance(value, Mapping):
                text = "; ".join(f"{k}: {v}" for k, v in list(value.items())[:FIELD_LIMIT])
            else:
                text = str(value)
            fields[_short(str(key), 60)] = _short(text)
        message = fields.pop("mensagem", None) or fields.pop("message", None) or fallback
        if fields and message == fallback:
            message = _short(fallback + ": " + "; ".join(f"{k}: {v}" for k, v in fields.items()))
        return message, fields
    if isinstance(data, list) and data:
        return _short("; ".join(str(v) for v in data[:FIELD_LIMIT])), {}
    return fallback, {}


def _read_body(response: httpx.Response) -> tuple[Any, str | None]:
    """(parsed JSON or None, why it could not be parsed or None)."""
    content_type = response.headers.get("content-type", "")
    content = response.content  # parsed as bytes: decoding to text first cost as much as parsing
    if "html" in content_type.lower() or content.lstrip().startswith(b"<"):
        return None, "a API respondeu uma página HTML em vez de JSON"
    if not content.strip():
        return None, "a API respondeu um corpo vazio"
    try:
        return fastjson.loads(content), None
    except ValueError:
        return None, f"JSON inválido ou truncado ({len(content)} bytes)"


def classify_error(response: httpx.Response, request: str, body: Any = None) -> FatalError | None:
    """The provider error an HTTP 4xx answer means (None below 400); the kit's
    ``classify_error`` override point for GestãoClick."""
    status = response.status_code
    if status < 400:
        return None
    if body is None:
        body, _why = _read_body(response)
    attempts = int(response.extensions.get("crmsync_attempts", 1) or 1)
    data = body.get("data") if isinstance(body, Mapping) else None
    fallback = f"a API recusou a requisição (HTTP {status})"
    message, fields = _error_message(data, fallback)
    if isinstance(body, Mapping) and isinstance(body.get("message"), str) and message == fallback:
        message = _short(body["message"])
    if status in (400, 422):
        return ValidationError(message, fields=fields, request=request)
    if status in (401, 403):
        return AuthError(f"credenciais recusadas pelo GestãoClick (HTTP {status}): {message}", request=request)
    if status == 404:
        return RemoteNotFoundError(f"registro não encontrado: {message}", request=request, attempts=attempts)
    return FatalError(f"{message} (HTTP {status})", request=request)


def parse_response(response: httpx.Response, request: str, *, allow_empty: bool = False) -> Envelope:
    """Turn one HTTP answer into an `Envelope` or a provider error (never a secret in it)."""
    status = response.status_code
    content = response.content
    attempts = int(response.extensions.get("crmsync_attempts", 1) or 1)
    if allow_empty and status < 400 and not content.strip():
        return Envelope(data=None, meta=None, request=request, attempts=attempts)
    body, parse_error = _read_body(response)
    error = classify_error(response, request, body)
    if error is not None:
        raise error

    if parse_error is not None:
        text = response.text
        raise ProtocolError(f"{parse_error}: {_short(text, 80)!r}" if text.strip() else parse_error, request=request)
    if not isinstance(body, Mapping):
        raise ProtocolError(f"o envelope deveria ser um objeto, veio {type(body).__name__}", request=request)
    code = body.get("code", 200)
    try:
        code_int = int(code)
    except (TypeError, ValueError):
        raise ProtocolError(f"campo code com tipo inesperado: {code!r}", request=request) from None
    if code_int != 200:
        message, _fields = _error_message(body.get("data"), "sem mensagem")
        raise ProtocolError(f"HTTP {status} com code {code_int} no envelope: {_short(message)}", request=request)
    if "data" not in body:
        raise ProtocolError("envelope sem o campo data", request=request)
    return Envelope(data=body["data"], meta=body.get("meta"), request=request, attempts=attempts)


Send = Callable[..., tuple[httpx.Response, str]]


class GestaoClickClient:
    """HTTP verbs over resources ("clientes", "produtos/12") and their envelope, sent through
    the provider kit's ``HttpProvider.send`` (the one path every request of every provider
    takes: transport, pacing, retries, bounds, error classification)."""

    def __init__(self, send: Send) -> None:
        self.send = send

    def call(self, method: str, path: str, *, allow_empty: bool = False, **options: Unpack[SendOptions]) -> Envelope:
        """One request and its envelope (`allow_empty`: a success may have no body, as a DELETE's)."""
        response, request = self.send(method, path, **options)
        return parse_response(response, request, allow_empty=allow_empty)

    def get_object(self, path: str, params: Mapping[str, Any] | None = None) -> tuple[dict[str, Any], Envelope]:
        env = self.call("GET", path, params=params)
        if not isinstance(env.data, dict):
            raise ProtocolError(f"data deveria ser um objeto, veio {type(env.data).__name__}", request=env.request)
        return env.data, env

    def get_list(self, path: str, params: Mapping[str, Any] | None = None) -> Envelope:
        env = self.call("GET", path, params=params)
        if not isinstance(env.data, list):
            raise ProtocolError(f"data deveria ser uma lista, veio {type(env.data).__name__}", request=env.request)
        return env
