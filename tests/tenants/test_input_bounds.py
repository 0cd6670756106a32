"""Out-of-range input answers 4xx with a `detail`, never a 500: ids and offsets of 2^63 and
more on /api/crm/*, `desde=999999999d`, a `modificado_desde` at the edge of the calendar
with a +14:00 offset, a console path id that is a digit but not a number, deeply nested JSON
in a signed webhook; a CPF/CNPJ/phone/e-mail present but invalid is refused (422), never
stored as empty; NUL bytes are refused. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from crmsync.api.app import create_app
from crmsync.db.session import session_scope
from crmsync.providers.kit.webhooks import expected_signature

from .conftest import store_with_integration, use_database

BIG = 2**63
HUGE = 10**30


@pytest.fixture(params=["sqlite", "postgresql"])
def client(
    request: pytest.FixtureRequest, fresh_database: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TestClient]:
    if request.param == "postgresql":
        request.applymarker(pytest.mark.postgres)
    use_database(fresh_database(request.param), tmp_path, monkeypatch)
    with TestClient(create_app()) as c:
        yield c


def _store() -> tuple[dict[str, str], str, str]:
    with session_scope() as s:
        _loja, key, integ = store_with_integration(s)
        return {"Authorization": f"Bearer {key}"}, integ.webhook_token, integ.webhook_secret or ""


def _assert_4xx(response: Any, what: str) -> None:
    assert 400 <= response.status_code < 500, f"{what}: {response.status_code} {response.text[:200]}"
    assert response.json().get("detail"), what


OUT_OF_RANGE = [
    ("GET", "/api/crm/conflitos", {"offset": BIG}),
    ("GET", "/api/crm/conflitos", {"offset": HUGE}),
    ("GET", f"/api/crm/conflitos/{BIG}", None),
    ("POST", f"/api/crm/conflitos/{BIG}/resolver", None),
    ("GET", "/api/crm/duplicatas", {"offset": BIG}),
    ("GET", f"/api/crm/duplicatas/{BIG}", None),
    ("POST", f"/api/crm/duplicatas/{BIG}/resolver", None),
    ("GET", "/api/crm/logs", {"offset": BIG}),
    ("GET", "/api/crm/logs", {"entity_id": BIG}),
    ("GET", "/api/crm/logs", {"desde": "999999999d"}),
    ("GET", "/api/crm/logs", {"desde": "99999999999999999999w"}),
    ("GET", "/api/crm/logs", {"desde": "0001-01-01T00:00:00+14:00"}),
    ("GET", "/api/crm/logs", {"ate": "0001-01-01T00:00:00+14:00"}),
    ("GET", "/api/crm/logs", {"ate": "9999-12-31T23:59:59-14:00"}),
    ("POST", f"/api/crm/falhas/{BIG}/retry", None),
    ("POST", f"/api/crm/falhas/{BIG}/ignorar", None),
    ("POST", f"/api/crm/sync/cliente/{BIG}", None),
    ("GET", "/api/clientes", {"modificado_desde": "0001-01-01T00:00:00+14:00"}),
    ("GET", "/api/clientes", {"modificado_desde": "9999-12-31T23:59:59-14:00"}),
    ("GET", "/api/clientes", {"offset": BIG}),
    ("GET", f"/api/clientes/{BIG}", None),
]


def test_out_of_range_input_is_a_4xx(client: TestClient) -> None:
    headers, _token, _secret = _store()
    for method, path, params in OUT_OF_RANGE:
        body = {"usar": "local"} if path.endswith("/resolver") and "conflitos" in path else None
        if path.endswith("/resolver") and "duplicatas" in path:
            body = {"acao": "descartar"}
        r = client.request(method, path, params=params, json=body, headers=headers)
        _assert_4xx(r, f"{method} {path} {params}")


def test_console_path_id_that_is_not_a_number(client: TestClient) -> None:
    for path in ("/console/conflitos/²", "/console/conflitos/٣", f"/console/conflitos/{BIG}"):
        r = client.get(path, follow_redirects=False)
        assert r.status_code < 500, f"{path}: {r.status_code}"


def test_deeply_nested_json_in_a_signed_webhook(client: TestClient) -> None:
    _headers, token, secret = _store()
    for depth in (33, 100, 100_000):
        body = ('{"a":' * depth + "1" + "}" * depth).encode()
        stamp = str(int(time.time()))
        r = client.post(
            f"/api/crm/webhook/gestao_click/{token}",
            content=body,
            headers={
                "X-Sandbox-Timestamp": stamp,
                "X-Sandbox-Signature": expected_signature(secret, stamp, body),
                "Content-Type": "application/json",
            },
        )
        _assert_4xx(r, f"nested {depth}")
    shallow = json.dumps({"evento": "cliente.alterado", "id": "1", "delivery_id": "d1"}).encode()
    stamp = str(int(time.time()))
    sig = expected_signature(secret, stamp, shallow)
    r = client.post(
        f"/api/crm/webhook/gestao_click/{token}",
        content=shallow,
        headers={"X-Sandbox-Timestamp": stamp, "X-Sandbox-Signature": sig},
    )
    assert r.status_code == 202


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("cpf", "abcdefghijk"),
        ("cpf", "123"),
        ("cpf", "111.111.111-11"),
        ("cnpj", "abcdefghijklmn"),
        ("cnpj", "11.222.333/0001-00"),
        ("email", "sem-arroba"),
        ("email", "a@"),
        ("telefone", "abc"),
        ("celular", "12"),
    ],
)
def test_invalid_key_or_contact_present_is_refused(client: TestClient, field: str, value: str) -> None:
    headers, _token, _secret = _store()
    r = client.post("/api/clientes", json={"nome": "Ana", field: value}, headers=headers)
    assert r.status_code == 422, f"{field}={value!r}: {r.status_code} {r.text[:200]}"
    assert any(d["campo"] == field for d in r.json()["detail"])
    assert client.get("/api/clientes", headers=headers).json()["total"] == 0
    created = client.post("/api/clientes", json={"nome": "Ana"}, headers=headers)
    assert created.status_code == 201
    r = client.put(f"/api/clientes/{created.json()['id']}", json={field: value}, headers=headers)
    assert r.status_code == 422


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/clientes", {"nome": "Ana\x00Maria"}),
        ("/api/clientes", {"nome": "Ana", "observacoes": "a\x00b"}),
        ("/api/produtos", {"nome": "Caneta", "codigo": "P\x001"}),
        ("/api/crm/sync", {"entidades": ["cliente\x00"]}),
    ],
)
def test_nul_bytes_are_refused(client: TestClient, path: str, body: dict[str, Any]) -> None:
    headers, _token, _secret = _store()
    r = client.post(path, json=body, headers=headers)
    assert r.status_code in (400, 422), f"{path}: {r.status_code} {r.text[:200]}"
    assert r.json()["detail"]
    assert not re.search(r"\\u0000|\x00", r.text)
