"""OAuth2 of the SuiteCRM sandbox: grants, bad credentials, and tokens that expire (401)."""

from __future__ import annotations

import base64
import json

import httpx
import pytest

from crmsync.sandbox.suitecrm import SuiteCrmSandboxServer

TOKEN = "/Api/access_token"
LIST = "/Api/V8/module/Contacts"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Accept": "application/vnd.api+json"}


def _token(suite: SuiteCrmSandboxServer, grant_type: str, *, as_json: bool = False, **fields: str) -> httpx.Response:
    """A token request as a client sends it: this sandbox's client id and secret unless `fields` say otherwise."""
    body = {"grant_type": grant_type, "client_id": suite.client_id, "client_secret": suite.client_secret, **fields}
    if as_json:
        return httpx.post(suite.base_url + TOKEN, json=body)
    return httpx.post(suite.base_url + TOKEN, data=body)


def test_client_credentials_as_form_and_as_json(suite: SuiteCrmSandboxServer) -> None:
    for answer in (_token(suite, "client_credentials"), _token(suite, "client_credentials", as_json=True)):
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["token_type"] == "Bearer"
        claims = json.loads(base64.urlsafe_b64decode(body["access_token"].split(".")[1] + "=="))
        assert claims["exp"] - claims["iat"] == 3600 and claims["aud"] == suite.client_id
        assert body["expires_in"] == 3600
        assert "refresh_token" not in body
        assert httpx.get(suite.base_url + LIST, headers=_bearer(body["access_token"])).status_code == 200


def test_client_credentials_through_http_basic(suite: SuiteCrmSandboxServer) -> None:
    basic = base64.b64encode(f"{suite.client_id}:{suite.client_secret}".encode()).decode()
    answer = httpx.post(
        suite.base_url + TOKEN, data={"grant_type": "client_credentials"}, headers={"Authorization": f"Basic {basic}"}
    )
    assert answer.status_code == 200, answer.text


def test_password_grant_and_refresh_token(suite: SuiteCrmSandboxServer) -> None:
    config = suite.config
    answer = _token(suite, "password", as_json=True, username=config.username, password=config.password)
    assert answer.status_code == 200, answer.text
    refresh = answer.json()["refresh_token"]
    renewed = _token(suite, "refresh_token", refresh_token=refresh)
    assert renewed.status_code == 200, renewed.text
    assert httpx.get(suite.base_url + LIST, headers=_bearer(renewed.json()["access_token"])).status_code == 200
    reused = _token(suite, "refresh_token", refresh_token=refresh)
    assert reused.status_code == 401  # a refresh token is good for one renewal


def test_wrong_password_is_invalid_grant(suite: SuiteCrmSandboxServer) -> None:
    answer = _token(suite, "password", username=suite.config.username, password="wrong")
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_grant"


def test_wrong_secret_is_invalid_client_and_never_echoed(suite: SuiteCrmSandboxServer) -> None:
    answer = _token(suite, "client_credentials", client_secret="leaked-guess-123")
    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_client"
    assert "leaked-guess-123" not in answer.text
    assert suite.stats()["tokens"]["invalid_client"] == 1


@pytest.mark.parametrize(
    ("form", "status", "error"),
    [
        ({}, 400, "unsupported_grant_type"),
        ({"grant_type": "authorization_code"}, 400, "unsupported_grant_type"),
        ({"grant_type": "client_credentials"}, 400, "invalid_request"),
        (
            {"grant_type": "password", "client_id": "sandbox-client", "client_secret": "sandbox-client-secret"},
            400,
            "invalid_request",
        ),
    ],
)
def test_incomplete_token_requests(suite: SuiteCrmSandboxServer, form: dict[str, str], status: int, error: str) -> None:
    answer = httpx.post(suite.base_url + TOKEN, data=form)
    assert answer.status_code == status
    assert answer.json()["error"] == error


def test_token_request_with_broken_json(suite: SuiteCrmSandboxServer) -> None:
    answer = httpx.post(suite.base_url + TOKEN, content=b"{grant_type:", headers={"Content-Type": "application/json"})
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_request"


@pytest.mark.parametrize(
    ("headers", "hint"),
    [
        ({}, 'Missing "Authorization" header'),
        ({"Authorization": "Bearer not-a-token-we-issued"}, "The JWT string must have two dots"),
        ({"Authorization": "Bearer aaa.bbb.ccc"}, "Access token could not be verified"),
        ({"Authorization": "Token abc"}, "The JWT string must have two dots"),
    ],
)
def test_calls_without_a_valid_token_are_401(suite: SuiteCrmSandboxServer, headers: dict[str, str], hint: str) -> None:
    answer = httpx.get(suite.base_url + LIST, headers=headers)
    assert answer.status_code == 401
    assert answer.json()["error"] == "access_denied"
    assert answer.json()["hint"] == hint


def test_tokens_expire_after_their_ttl_then_a_new_one_works() -> None:
    # The clock also moves for real between the calls (seconds on a loaded machine): a 600 s
    # token checked 540 s on, then 61 s later, is alive then dead whatever that real time.
    with SuiteCrmSandboxServer(token_ttl_seconds=600) as suite:
        token = suite.access_token()
        assert httpx.get(suite.base_url + LIST, headers=_bearer(token)).status_code == 200
        suite.advance_clock(540)
        assert httpx.get(suite.base_url + LIST, headers=_bearer(token)).status_code == 200
        suite.advance_clock(61)
        expired = httpx.get(suite.base_url + LIST, headers=_bearer(token))
        assert expired.status_code == 401
        assert expired.json()["hint"] == "Access token is invalid"
        assert httpx.get(suite.base_url + LIST, headers=_bearer(suite.access_token())).status_code == 200
        assert suite.stats()["tokens"]["rejected_expired"] == 1


def test_expire_and_revoke_from_the_panel(suite: SuiteCrmSandboxServer) -> None:
    token = suite.access_token()
    assert suite.expire_tokens() == 1
    assert httpx.get(suite.base_url + LIST, headers=_bearer(token)).status_code == 401
    token = suite.access_token()
    suite.revoke_tokens()
    revoked = httpx.get(suite.base_url + LIST, headers=_bearer(token))
    assert revoked.status_code == 401
    assert revoked.json()["hint"] == "Access token has been revoked"
    # The control route expires tokens for clients in another process.
    token = suite.access_token()
    assert httpx.post(suite.base_url + "/_sandbox/expire-tokens").json() == {"expired": 3}
    assert httpx.get(suite.base_url + LIST, headers=_bearer(token)).status_code == 401


def test_a_rotated_secret_refuses_the_old_one_and_its_tokens(suite: SuiteCrmSandboxServer) -> None:
    old_secret, token = suite.client_secret, suite.access_token()
    suite.rotate_client_secret("nova-senha-123")
    assert httpx.get(suite.base_url + LIST, headers=_bearer(token)).status_code == 401
    refused = _token(suite, "client_credentials", client_secret=old_secret)
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
    assert suite.client_secret == "nova-senha-123"
    assert httpx.get(suite.base_url + LIST, headers=_bearer(suite.access_token())).status_code == 200
