"""Errors the SuiteCRM sandbox answers, in SuiteCRM's own shapes.

SuiteCRM's V8 controllers catch every exception of a call and answer **400** with
``{"errors": {"status": 400, "title": null, "detail": "<exception message>"}}``
(``Api/V8/JsonApi/Response/ErrorResponse.php``: ``errors`` is one object, not the array
JSON:API recommends). OAuth failures come from league/oauth2-server instead, as
``{"error", "error_description", "hint", "message"}`` with 400 or 401.
"""

from __future__ import annotations

from typing import Any

JSON_API = "application/vnd.api+json"


class SuiteError(Exception):
    """A failure of one API call; ``detail`` is SuiteCRM's message for it."""

    def __init__(self, detail: str, status: int = 400, title: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status = status
        self.title = title

    def body(self) -> dict[str, Any]:
        return {"errors": {"status": self.status, "title": self.title, "detail": self.detail}}


class OAuthError(Exception):
    """A league/oauth2-server error (token endpoint, or a missing/expired bearer token)."""

    def __init__(self, error: str, description: str, status: int, hint: str | None = None) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status
        self.hint = hint

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"error": self.error, "error_description": self.description}
        if self.hint:
            out["hint"] = self.hint
        out["message"] = self.description
        return out


def invalid_client() -> OAuthError:
    return OAuthError("invalid_client", "Client authentication failed", 401)


def access_denied(hint: str) -> OAuthError:
    return OAuthError("access_denied", "The resource owner or authorization server denied the request.", 401, hint=hint)


def invalid_request(parameter: str) -> OAuthError:
    return OAuthError(
        "invalid_request",
        "The request is missing a required parameter, includes an invalid parameter value, includes a "
        "parameter more than once, or is otherwise malformed.",
        400,
        hint=f"Check the `{parameter}` parameter",
    )
