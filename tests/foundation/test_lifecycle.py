"""Store and credential life cycle (issue #12, item 5): rotate and revoke a store's key (the
old one stops at once), disable a store, change an integration's connection and webhook
secret, on every database; `base_url` refusals; the CLI's commands for the same."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from support.settings_env import settings_env
from typer.testing import CliRunner

from crmsync.api.app import create_app
from crmsync.cli import app as cli_app
from crmsync.crypto import decrypt_json
from crmsync.db.schema import upgrade
from crmsync.db.session import session_scope
from crmsync.db.sync import CrmIntegracao
from crmsync.runtime.queue import reset_queue
from crmsync.services.integracoes import credentials_hash

from .helpers import ACCESS, ADMIN, SECRET, make_store, post_integration


@pytest.fixture
def db_client(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    with settings_env(monkeypatch, tmp_path, db_url, queue=True, admin=True):
        reset_queue()
        upgrade(db_url)
        with TestClient(create_app()) as c:
            yield c
        reset_queue()


def _integration(client: TestClient, loja_id: int) -> dict[str, Any]:
    r = post_integration(client, loja_id)
    assert r.status_code == 201, r.text
    return dict(r.json())


def test_rotate_revoke_disable_a_store_key(db_client: TestClient) -> None:
    store, other = make_store("A"), make_store("B")
    old = store.headers
    assert db_client.get("/api/clientes", headers=old).status_code == 200

    r = db_client.post(f"/api/admin/lojas/{store.id}/rotate-key", headers=ADMIN)
    assert r.status_code == 200, r.text
    new = {"Authorization": f"Bearer {r.json()['api_key']}"}
    assert r.json()["api_key_prefix"] == r.json()["api_key"][:12]
    assert db_client.get("/api/clientes", headers=old).status_code == 401  # at once
    assert db_client.get("/api/clientes", headers=new).status_code == 200
    assert db_client.get("/api/clientes", headers=other.headers).status_code == 200  # others untouched

    r = db_client.post(f"/api/admin/lojas/{store.id}/revoke-key", headers=ADMIN)
    assert r.status_code == 200 and "api_key" not in r.json()
    assert db_client.get("/api/clientes", headers=new).status_code == 401
    assert db_client.get("/api/admin/lojas", headers=ADMIN).json()[0]["api_key_prefix"] == "revogada"

    again = db_client.post(f"/api/admin/lojas/{store.id}/rotate-key", headers=ADMIN).json()["api_key"]
    h = {"Authorization": f"Bearer {again}"}
    assert db_client.get("/api/clientes", headers=h).status_code == 200
    assert db_client.post(f"/api/admin/lojas/{store.id}/disable", headers=ADMIN).json()["ativo"] is False
    assert db_client.get("/api/clientes", headers=h).status_code == 401
    assert db_client.post(f"/api/admin/lojas/{store.id}/enable", headers=ADMIN).json()["ativo"] is True
    assert db_client.get("/api/clientes", headers=h).status_code == 200
    for path in ("rotate-key", "revoke-key", "disable", "enable"):
        assert db_client.post(f"/api/admin/lojas/999999/{path}", headers=ADMIN).status_code == 404
        assert db_client.post(f"/api/admin/lojas/{store.id}/{path}", headers=h).status_code == 401  # admin only


def test_change_an_integrations_connection_and_webhook_secret(db_client: TestClient) -> None:
    store = make_store("A")
    integ = _integration(db_client, store.id)
    iid = integ["id"]

    r = db_client.patch(
        f"/api/admin/integracoes/{iid}",
        json={"base_url": "https://outra.example.com/api/", "access_token": "novo-a", "secret_access_token": "novo-s"},
        headers=ADMIN,
    )
    assert r.status_code == 200, r.text
    assert r.json()["base_url"] == "https://outra.example.com/api"
    assert "novo-a" not in r.text and "novo-s" not in r.text  # masked
    with session_scope() as s:
        row = s.get(CrmIntegracao, iid)
        assert row is not None
        assert decrypt_json(row.credenciais) == {"access_token": "novo-a", "secret_access_token": "novo-s"}
        assert row.credenciais_hash == credentials_hash("novo-a", "novo-s")
        old_secret, old_token = row.webhook_secret, row.webhook_token

    # Refusals name the field and change nothing.
    for body in (
        {"base_url": "ftp://x.example.com"},
        {"base_url": "https://user:s3gr3d0x@x.example.com"},
        {"base_url": "https://token@x.example.com"},
        {"base_url": "https://x.example.com/a b"},
        {"access_token": "só um"},
        {"access_token": "   ", "secret_access_token": "x"},
        {"outro": 1},
    ):
        r = db_client.patch(f"/api/admin/integracoes/{iid}", json=body, headers=ADMIN)
        assert r.status_code == 422, (body, r.text)
        assert "detail" in r.json() and "s3gr3d0x" not in r.text  # a password is never echoed
    assert db_client.get(f"/api/admin/integracoes/{iid}", headers=ADMIN).json()["base_url"] == (
        "https://outra.example.com/api"
    )

    r = db_client.post(f"/api/admin/integracoes/{iid}/webhook-secret", headers=ADMIN)
    assert r.status_code == 200
    with session_scope() as s:
        row = s.get(CrmIntegracao, iid)
        assert row is not None
        assert row.webhook_secret == r.json()["webhook_secret"] != old_secret
        assert row.webhook_token != old_token and r.json()["webhook_path"].endswith(row.webhook_token)
    assert db_client.patch("/api/admin/integracoes/999999", json={}, headers=ADMIN).status_code == 404


def test_base_url_with_user_info_is_refused_at_creation(db_client: TestClient) -> None:
    store = make_store("A")
    body = {
        "id_loja": store.id,
        "base_url": "https://gc:segredo@api.gestaoclick.com/",
        "access_token": ACCESS,
        "secret_access_token": SECRET,
    }
    r = db_client.post("/api/admin/integracoes", json=body, headers=ADMIN)
    assert r.status_code == 422 and "segredo" not in r.text
    assert db_client.get("/api/admin/integracoes", headers=ADMIN).json() == []


def test_cli_rotates_revokes_disables_and_changes_the_connection(db_client: TestClient) -> None:
    runner = CliRunner()
    store = make_store("A")
    integ = _integration(db_client, store.id)

    out = runner.invoke(cli_app, ["loja", "rotate-key", str(store.id), "--json"])
    assert out.exit_code == 0, out.output
    key = json.loads(out.stdout)["api_key"]
    assert db_client.get("/api/clientes", headers=store.headers).status_code == 401
    assert db_client.get("/api/clientes", headers={"Authorization": f"Bearer {key}"}).status_code == 200

    assert runner.invoke(cli_app, ["loja", "disable", str(store.id)]).exit_code == 0
    assert db_client.get("/api/clientes", headers={"Authorization": f"Bearer {key}"}).status_code == 401
    assert runner.invoke(cli_app, ["loja", "enable", str(store.id)]).exit_code == 0
    assert runner.invoke(cli_app, ["loja", "revoke-key", str(store.id)]).exit_code == 0
    assert db_client.get("/api/clientes", headers={"Authorization": f"Bearer {key}"}).status_code == 401

    bad = runner.invoke(cli_app, ["integration", "set-connection", str(integ["id"]), "--base-url", "https://a:b@x.io"])
    assert bad.exit_code == 2 and "Traceback" not in bad.output
    ok = runner.invoke(
        cli_app,
        [
            "integration",
            "set-connection",
            str(integ["id"]),
            "--base-url",
            "https://novo.example.com",
            "--sem-verificar",
            "--json",
        ],
        env={"CRMSYNC_NEW_ACCESS_TOKEN": "env-a", "CRMSYNC_NEW_SECRET_ACCESS_TOKEN": "env-s"},
    )
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["base_url"] == "https://novo.example.com" and "env-a" not in ok.stdout
    with session_scope() as s:
        row = s.get(CrmIntegracao, integ["id"])
        assert row is not None and row.credenciais_hash == credentials_hash("env-a", "env-s")
    secret = runner.invoke(cli_app, ["integration", "rotate-webhook-secret", str(integ["id"]), "--json"])
    assert secret.exit_code == 0 and json.loads(secret.stdout)["webhook_secret"]
    missing = runner.invoke(cli_app, ["loja", "rotate-key", "999999"])
    assert missing.exit_code == 2 and len(missing.stderr.strip().splitlines()) == 1
