"""Administration over HTTP: admin token required, stores with a one-time key, integrations
with encrypted, masked credentials and a validated config."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from crmsync.crypto import decrypt_json
from crmsync.db.session import session_scope
from crmsync.db.sync import CrmIntegracao
from crmsync.services.integracoes import credentials_hash
from crmsync.settings import reset_settings_cache

from .helpers import ACCESS, ADMIN, SECRET, Store, post_integration

ADMIN_ROUTES = [
    ("POST", "/api/admin/lojas"),
    ("GET", "/api/admin/lojas"),
    ("GET", "/api/admin/lojas/1"),
    ("POST", "/api/admin/integracoes"),
    ("GET", "/api/admin/integracoes"),
    ("GET", "/api/admin/integracoes/1"),
    ("GET", "/api/admin/integracoes/1/config"),
    ("PUT", "/api/admin/integracoes/1/config"),
    ("POST", "/api/admin/integracoes/1/enable"),
    ("POST", "/api/admin/integracoes/1/disable"),
]


def _integration(client: TestClient, loja_id: int, **extra: Any) -> Any:
    return post_integration(client, loja_id, **{"provider": "gestao_click", **extra})


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}], ids=["missing", "wrong"])
def test_admin_routes_need_the_admin_token(client: TestClient, store: Store, headers: dict[str, str]) -> None:
    for method, path in [*ADMIN_ROUTES]:
        r = client.request(method, path, headers=headers, json={} if method in ("POST", "PUT") else None)
        assert r.status_code == 401, (method, path, r.text)
    # A store's own key is not an admin token.
    assert client.get("/api/admin/lojas", headers=store.headers).status_code == 401


def test_admin_api_is_off_without_a_configured_token(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRMSYNC_ADMIN_TOKEN", "")
    reset_settings_cache()
    r = client.get("/api/admin/lojas", headers={"Authorization": "Bearer "})
    assert r.status_code == 403
    assert "CRMSYNC_ADMIN_TOKEN" in r.json()["detail"]


def test_create_store_answers_its_key_once(client: TestClient) -> None:
    r = client.post("/api/admin/lojas", json={"nome": "Loja Centro"}, headers=ADMIN)
    assert r.status_code == 201, r.text
    loja = r.json()
    key = loja["api_key"]
    assert key.startswith("crm_") and loja["api_key_prefix"] == key[:12]
    assert client.get("/api/clientes", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    listed = client.get("/api/admin/lojas", headers=ADMIN).json()
    assert [s["nome"] for s in listed] == ["Loja Centro"]
    assert key not in str(listed)
    assert client.post("/api/admin/lojas", json={"nome": "B", "id": 42}, headers=ADMIN).json()["id"] == 42
    assert client.post("/api/admin/lojas", json={"nome": "C", "id": 42}, headers=ADMIN).status_code == 409
    r = client.post("/api/admin/lojas", json={"nome": "", "extra": 1}, headers=ADMIN)
    assert r.status_code == 422
    assert client.get("/api/admin/lojas/999", headers=ADMIN).status_code == 404


def test_integration_credentials_are_encrypted_and_masked(client: TestClient, store: Store) -> None:
    r = _integration(client, store.id)
    assert r.status_code == 201, r.text
    data = r.json()
    assert ACCESS not in r.text and SECRET not in r.text
    assert data["credenciais"] == {"access_token": "gc-a…", "secret_access_token": "gc-s…"}
    assert data["base_url"] == "https://api.gestaoclick.com"
    assert data["ativo"] is True
    for path in ("/api/admin/integracoes", f"/api/admin/integracoes/{data['id']}"):
        got = client.get(path, headers=ADMIN)
        assert got.status_code == 200 and ACCESS not in got.text and SECRET not in got.text
    with session_scope() as session:
        row = session.get(CrmIntegracao, data["id"])
        assert row is not None
        assert ACCESS not in row.credenciais and SECRET not in row.credenciais
        assert decrypt_json(row.credenciais) == {"access_token": ACCESS, "secret_access_token": SECRET}
        assert row.credenciais_hash == credentials_hash(ACCESS, SECRET)
        assert len(row.webhook_token) >= 20 and row.webhook_secret
        assert row.webhook_secret not in r.text
    # One integration per store and provider.
    assert _integration(client, store.id).status_code == 409


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"provider": "salesforce"}, "provider"),
        ({"base_url": "ftp://x"}, "base_url"),
        ({"access_token": ""}, "access_token"),
        ({"id_loja": 999}, None),
        ({"senha": "x"}, "senha"),
    ],
)
def test_bad_integration_is_refused(client: TestClient, store: Store, extra: dict[str, Any], field: str | None) -> None:
    r = _integration(client, store.id, **extra)
    if field is None:
        assert r.status_code == 404
    else:
        assert r.status_code == 422, r.text
        assert r.json()["detail"][0]["campo"] == field
    assert ACCESS not in r.text and SECRET not in r.text
    assert client.get("/api/admin/integracoes", headers=ADMIN).json() == []


def test_enable_disable(client: TestClient, store: Store) -> None:
    integ = _integration(client, store.id).json()
    r = client.post(f"/api/admin/integracoes/{integ['id']}/disable", headers=ADMIN)
    assert r.status_code == 200 and r.json()["ativo"] is False
    r = client.post(f"/api/admin/integracoes/{integ['id']}/enable", headers=ADMIN)
    assert r.status_code == 200 and r.json()["ativo"] is True
    assert client.post("/api/admin/integracoes/999/enable", headers=ADMIN).status_code == 404
    assert client.get(f"/api/admin/integracoes?id_loja={store.id}", headers=ADMIN).json()[0]["id"] == integ["id"]
    assert client.get("/api/admin/integracoes?id_loja=999", headers=ADMIN).json() == []
