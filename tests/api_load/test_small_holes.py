"""Issue #20's small holes, each through the real CLI or a real server."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from crmsync.api.app import create_app
from crmsync.settings import reset_settings_cache

from .server import CRMSYNC, add_store, clean_env


def test_db_upgrade_creates_the_sqlite_file_private(tmp_path: Path) -> None:
    # A fresh install: `crmsync db upgrade` first, under the usual umask (022).
    run = subprocess.run(
        [CRMSYNC, "db", "upgrade"],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=lambda: os.umask(0o022),
    )
    assert run.returncode == 0, run.stderr
    mode = stat.S_IMODE((tmp_path / "crmsync.db").stat().st_mode)
    assert mode == 0o600, oct(mode)


LINK_LOCAL = [
    "http://169.254.169.254",
    "http://2852039166/latest",
    "http://[fe80::1]:8080",
    "http://[::ffff:169.254.169.254]",
]


def test_a_link_local_crm_address_is_refused_by_the_cli(tmp_path: Path) -> None:
    env = clean_env()
    add_store(tmp_path, env, "Loja Metadados")  # the first store: id 1
    for url in LINK_LOCAL:
        run = subprocess.run(
            [
                CRMSYNC,
                "integration",
                "add",
                "--loja",
                "1",
                "--provider",
                "gestao_click",
                "--base-url",
                url,
                "--access-token",
                "tok",
                "--secret-access-token",
                "sec",
            ],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert run.returncode == 2, (url, run.stdout, run.stderr)
        assert "link-local" in run.stderr and "Traceback" not in run.stderr
        assert len(run.stderr.strip().splitlines()) == 1
    listed = subprocess.run(
        [CRMSYNC, "integration", "list", "--json"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert json.loads(listed.stdout) == []  # nothing written


def test_a_link_local_crm_address_is_a_422_from_the_api_unless_allowed(
    app_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = {"Authorization": f"Bearer {app_env['CRMSYNC_ADMIN_TOKEN']}"}
    with TestClient(create_app()) as client:
        loja = client.post("/api/admin/lojas", json={"nome": "Loja"}, headers=admin).json()
        body = {"id_loja": loja["id"], "provider": "gestao_click", "access_token": "t", "secret_access_token": "s"}
        for url in LINK_LOCAL:
            r = client.post("/api/admin/integracoes", json={**body, "base_url": url}, headers=admin)
            assert r.status_code == 422, r.text
            assert "link-local" in json.dumps(r.json()["detail"], ensure_ascii=False)
        assert client.get("/api/admin/integracoes", headers=admin).json() == []
        ok = client.post("/api/admin/integracoes", json={**body, "base_url": "http://127.0.0.1:9"}, headers=admin)
        assert ok.status_code == 201, ok.text  # loopback: the sandboxes
        created = ok.json()["id"]
        r = client.patch(f"/api/admin/integracoes/{created}", json={"base_url": LINK_LOCAL[0]}, headers=admin)
        assert r.status_code == 422
        monkeypatch.setenv("CRMSYNC_ALLOW_LINK_LOCAL_CRM", "true")
        reset_settings_cache()
        r = client.patch(f"/api/admin/integracoes/{created}", json={"base_url": LINK_LOCAL[0]}, headers=admin)
        assert r.status_code == 200, r.text


def test_metrics_need_the_token_when_one_is_set(app_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    with TestClient(create_app()) as client:
        assert client.get("/metrics").status_code == 200  # no token configured: open, as before
        monkeypatch.setenv("CRMSYNC_METRICS_TOKEN", "scrape-me")
        reset_settings_cache()
        refused = client.get("/metrics")
        assert refused.status_code == 401 and "detail" in refused.json()
        assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
        ok = client.get("/metrics", headers={"Authorization": "Bearer scrape-me"})
        assert ok.status_code == 200 and "crmsync" in ok.text


def test_a_database_that_refuses_connections_is_a_503_not_a_500(
    app_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A PostgreSQL server that refuses the connection (here: no such database; in #20's
    # bench: "too many clients already") is the database's state, not the request's fault.
    from crmsync.db.session import dispose_engines

    pg = os.environ.get("CRMSYNC_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    monkeypatch.setenv("CRMSYNC_DATABASE_URL", pg.rsplit("/", 1)[0] + "/crmsync_no_such_database_20")
    reset_settings_cache()
    dispose_engines()
    with TestClient(create_app(), raise_server_exceptions=False) as client:
        r = client.get("/api/clientes?limit=1", headers={"Authorization": "Bearer crm_whatever"})
    assert r.status_code == 503, r.text
    assert r.headers["Retry-After"].isdigit() and "detail" in r.json()
