"""Several companies in one sandbox process, as the real service: the tokens say which
company a request is for, and each company has its own data, its own 3 req/s window and its
own daily quota. A single-company sandbox behaves as before."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from support.processes import sandbox_process

from crmsync.sandbox import CompanyCredentials, SandboxServer, numbered_companies

A = CompanyCredentials("tok-a", "sec-a", "loja-a")
B = CompanyCredentials("tok-b", "sec-b", "loja-b")


def _h(c: CompanyCredentials) -> dict[str, str]:
    return {"access-token": c.access_token, "secret-access-token": c.secret_access_token}


def test_each_company_has_its_own_data() -> None:
    with SandboxServer(rate_limit=0, companies=[A, B]) as sb, httpx.Client(base_url=sb.base_url) as c:
        made = c.post("/clientes", json={"tipo_pessoa": "PF", "nome": "Ana da Loja A"}, headers=_h(A)).json()["data"]
        assert c.get("/clientes", headers=_h(A)).json()["meta"]["total_registros"] == 1
        assert c.get("/clientes", headers=_h(B)).json()["meta"]["total_registros"] == 0
        assert c.get(f"/clientes/{made['id']}", headers=_h(B)).status_code == 404
        c.post("/clientes", json={"tipo_pessoa": "PF", "nome": "Bia da Loja B"}, headers=_h(B))
        assert [r["nome"] for r in sb.panel_list("clientes", company="loja-b")] == ["Bia da Loja B"]
        assert [r["nome"] for r in sb.panel_list("clientes")] == ["Ana da Loja A"]  # default: the first
        sb.panel_create("clientes", {"tipo_pessoa": "PF", "nome": "Caio"}, company="loja-b")
        assert c.get("/clientes", headers=_h(B)).json()["meta"]["total_registros"] == 2
        panel = httpx.get(sb.base_url + "/_sandbox/panel/clientes", params={"empresa": "loja-b"}).json()
        assert len(panel["data"]) == 2
        assert sb.headers_for("loja-b") == _h(B)


def test_each_company_has_its_own_window_and_quota() -> None:
    # one request per 5-second window: a second one at once is certainly inside it
    with SandboxServer(rate_limit=0.2, companies=[A, B]) as sb, httpx.Client(base_url=sb.base_url) as c:
        assert c.get("/clientes", headers=_h(A)).status_code == 200
        assert c.get("/clientes", headers=_h(A)).status_code == 429
        assert c.get("/clientes", headers=_h(B)).status_code == 200  # B's window is its own
        stats = sb.stats()["companies"]
        assert stats["loja-a"]["rate_limited"] == 1 and stats["loja-b"]["rate_limited"] == 0
    with SandboxServer(rate_limit=0, daily_quota=2, companies=[A, B]) as sb, httpx.Client(base_url=sb.base_url) as c:
        assert [c.get("/clientes", headers=_h(A)).status_code for _ in range(3)] == [200, 200, 429]
        assert c.post("/clientes", json={"tipo_pessoa": "PF", "nome": "X"}, headers=_h(A)).status_code == 429
        assert c.post("/clientes", json={"tipo_pessoa": "PF", "nome": "Y"}, headers=_h(B)).status_code == 200
        stats = sb.stats()["companies"]
        assert stats["loja-a"]["quota_left"] == 0 and stats["loja-b"]["quota_left"] == 1
        assert sb.panel_list("clientes", company="loja-a") == []  # the refused create wrote nothing


def test_company_declarations_are_checked() -> None:
    with pytest.raises(ValueError, match="unique"):
        SandboxServer(companies=[A, CompanyCredentials("tok-a", "sec-a", "outra")]).start()
    with pytest.raises(ValueError, match="NOME:ACCESS_TOKEN"):
        CompanyCredentials.parse("só-um-nome")
    many = numbered_companies(3)
    assert [c.name for c in many] == ["empresa-1", "empresa-2", "empresa-3"]
    assert len({c.access_token for c in many}) == 3


def test_persisted_companies_keep_their_data_apart(tmp_path: Path) -> None:
    db = tmp_path / "sandbox.db"
    with SandboxServer(rate_limit=0, companies=[A, B], db_path=str(db)) as sb:
        sb.panel_create("clientes", {"tipo_pessoa": "PF", "nome": "Ana"}, company="loja-b")
    sb.close()
    assert db.exists() and (tmp_path / "sandbox-loja-b.db").exists()
    with SandboxServer(rate_limit=0, companies=[A, B], db_path=str(db)) as again:
        assert again.panel_list("clientes", company="loja-a") == []
        assert [r["nome"] for r in again.panel_list("clientes", company="loja-b")] == ["Ana"]
    again.close()


def test_cli_declares_companies() -> None:
    args = ["--port", "0", "--rate-limit", "0", "--records", "3", "--company", "loja-x:tok-x:segredo-x"]
    with sandbox_process(*args, "--companies", "2") as sandbox:
        output = sandbox.output
        assert "loja-x" in output and "empresa-2" in output and "segredo-x" not in output
        x = {"access-token": "tok-x", "secret-access-token": "segredo-x"}
        second = {"access-token": "sandbox-access-token-2", "secret-access-token": "sandbox-secret-token-2"}
        with httpx.Client(base_url=sandbox.base_url, timeout=60) as c:
            assert c.get("/clientes", headers=x).json()["meta"]["total_registros"] == 3
            made = c.post("/clientes", json={"tipo_pessoa": "PF", "nome": "Só da empresa 2"}, headers=second)
            assert made.status_code == 200
            assert c.get("/clientes", headers=x).json()["meta"]["total_registros"] == 3
            assert c.get("/clientes", headers=second).json()["meta"]["total_registros"] == 4
    bad = subprocess.run(
        [sys.executable, "-m", "crmsync.sandbox", "--company", "sem-tokens"], capture_output=True, text=True
    )
    assert bad.returncode == 2 and "NOME:ACCESS_TOKEN" in bad.stderr
