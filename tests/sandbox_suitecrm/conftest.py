"""Fixtures for the SuiteCRM sandbox tests: a real uvicorn server on a free loopback port, real httpx."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from crmsync.sandbox.suitecrm import SuiteCrmSandboxServer

JSON_API = "application/vnd.api+json"


@pytest.fixture
def suite() -> Iterator[SuiteCrmSandboxServer]:
    """An empty sandbox: no faults, no pace, one-hour tokens."""
    with SuiteCrmSandboxServer() as server:
        yield server


@pytest.fixture
def api(suite: SuiteCrmSandboxServer) -> Iterator[httpx.Client]:
    """A client holding a client_credentials token, with the JSON:API headers."""
    with httpx.Client(base_url=suite.base_url, headers=suite.headers(), timeout=10) as client:
        yield client


def create(api: httpx.Client, module: str, attributes: dict[str, Any], bean_id: str | None = None) -> dict[str, Any]:
    """POST a bean through the API and return its resource object (asserting the 201)."""
    data: dict[str, Any] = {"type": module, "attributes": attributes}
    if bean_id is not None:
        data["id"] = bean_id
    answer = api.post("/Api/V8/module", json={"data": data})
    assert answer.status_code == 201, answer.text
    resource: dict[str, Any] = answer.json()["data"]
    return resource


def list_ids(api: httpx.Client, module: str, **params: Any) -> list[str]:
    answer = api.get(f"/Api/V8/module/{module}", params=params)
    assert answer.status_code == 200, answer.text
    return [r["id"] for r in answer.json()["data"]]
