"""Credentials checked when given (`integration add`, `set-connection`) and rotated (CLI and
`PATCH /api/admin/integracoes/{id}`), against the SuiteCRM stand-in, the real SuiteCRM when it
is up, and the GestãoClick sandbox: one request, exit 2 with one line saying what is wrong,
nothing stored; another provider's kind of credentials refused."""

from __future__ import annotations

import json
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from support.settings_env import settings_env
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parents[1]))
from real_suitecrm import real_suite

from crmsync.cli import app
from crmsync.crypto import decrypt_json
from crmsync.db.session import get_sessionmaker
from crmsync.db.sync import CrmIntegracao
from crmsync.providers.suitecrm.auth import forget_all_tokens
from crmsync.sandbox.server import SandboxServer
from crmsync.sandbox.suitecrm import SuiteCrmSandboxServer

ADMIN = {"Authorization": "Bearer admin-token-for-tests"}


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    with settings_env(monkeypatch, tmp_path, queue=True, admin=True):
        forget_all_tokens()
        r = CliRunner()
        assert r.invoke(app, ["loja", "add", "--nome", "Loja"]).exit_code == 0
        yield r
    forget_all_tokens()


@pytest.fixture
def suite() -> Iterator[SuiteCrmSandboxServer]:
    with SuiteCrmSandboxServer(seed=0) as sb:
        yield sb


def _add_suite(runner: CliRunner, url: str, client_id: str, secret: str, *extra: str) -> tuple[int, str]:
    args = ["integration", "add", "--loja", "1", "--provider", "suitecrm", "--base-url", url]
    result = runner.invoke(app, [*args, "--client-id", client_id, "--client-secret", secret, *extra, "--json"])
    return result.exit_code, result.output


def _stored() -> dict[str, str] | None:
    with get_sessionmaker()() as s:
        integ = s.get(CrmIntegracao, 1)
        return None if integ is None else {str(k): str(v) for k, v in decrypt_json(integ.credenciais).items()}


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_good_credentials_are_checked_and_stored(runner: CliRunner, suite: SuiteCrmSandboxServer) -> None:
    code, out = _add_suite(runner, suite.base_url, suite.client_id, suite.client_secret)
    assert code == 0, out
    assert suite.stats()["tokens"]["issued"] == 1  # the check did talk to the CRM
    assert _stored() == {"client_id": suite.client_id, "client_secret": suite.client_secret}


def test_unknown_client_id_is_named_once(runner: CliRunner, suite: SuiteCrmSandboxServer) -> None:
    code, out = _add_suite(runner, suite.base_url, "cliente-errado", suite.client_secret)
    assert code == 2
    assert len(out.strip().splitlines()) == 1
    assert "client_id desconhecido no SuiteCRM (cliente-errado)" in out
    assert "indisponível" not in out and suite.client_secret not in out
    assert suite.stats()["tokens"]["unknown_client"] == 1  # one token request, no retries of the 500
    assert _stored() is None


def test_refused_secret_says_so(runner: CliRunner, suite: SuiteCrmSandboxServer) -> None:
    code, out = _add_suite(runner, suite.base_url, suite.client_id, "segredo-errado-0123")
    assert code == 2 and len(out.strip().splitlines()) == 1
    assert "credenciais recusadas" in out and "indisponível" not in out and "segredo-errado" not in out
    assert _stored() is None


def test_unreachable_crm_is_refused_unless_the_check_is_skipped(runner: CliRunner) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    code, out = _add_suite(runner, url, "cliente", "segredo-0123")
    assert code == 2 and "não foi possível verificar" in out and "--sem-verificar" in out
    assert _stored() is None
    code, out = _add_suite(runner, url, "cliente", "segredo-0123", "--sem-verificar")
    assert code == 0, out
    assert _stored() == {"client_id": "cliente", "client_secret": "segredo-0123"}


def test_rotation_by_set_connection(runner: CliRunner, suite: SuiteCrmSandboxServer) -> None:
    assert _add_suite(runner, suite.base_url, "antigo", "antigo-segredo", "--sem-verificar")[0] == 0
    wrong = runner.invoke(
        app, ["integration", "set-connection", "1", "--client-id", "x-errado", "--client-secret", "y-0123"]
    )
    assert wrong.exit_code == 2 and "client_id desconhecido no SuiteCRM (x-errado)" in wrong.output
    gc_kind = runner.invoke(
        app, ["integration", "set-connection", "1", "--access-token", "a-0123", "--secret-access-token", "b-0123"]
    )
    assert gc_kind.exit_code == 2 and "access_token" in gc_kind.output
    assert len(gc_kind.output.strip().splitlines()) == 1
    assert _stored() == {"client_id": "antigo", "client_secret": "antigo-segredo"}  # nothing changed
    ok = runner.invoke(
        app,
        ["integration", "set-connection", "1", "--client-id", suite.client_id, "--client-secret", suite.client_secret],
    )
    assert ok.exit_code == 0, ok.output
    assert _stored() == {"client_id": suite.client_id, "client_secret": suite.client_secret}


def test_rotation_by_the_admin_api(runner: CliRunner) -> None:
    from crmsync.api.app import create_app

    assert _add_suite(runner, "https://crm.loja.com.br", "antigo", "antigo-segredo", "--sem-verificar")[0] == 0
    with TestClient(create_app()) as client:
        refused = client.patch(
            "/api/admin/integracoes/1", headers=ADMIN, json={"access_token": "gc-a", "secret_access_token": "gc-s"}
        )
        assert refused.status_code == 422, refused.text
        assert "access_token" in json.dumps(refused.json()["detail"])
        assert _stored() == {"client_id": "antigo", "client_secret": "antigo-segredo"}
        half = client.patch("/api/admin/integracoes/1", headers=ADMIN, json={"client_id": "novo"})
        assert half.status_code == 422
        ok = client.patch(
            "/api/admin/integracoes/1", headers=ADMIN, json={"client_id": "novo", "client_secret": "novo-segredo"}
        )
        assert ok.status_code == 200, ok.text
        assert "novo-segredo" not in ok.text
    assert _stored() == {"client_id": "novo", "client_secret": "novo-segredo"}


def test_gestaoclick_tokens_are_checked_too(runner: CliRunner) -> None:
    with SandboxServer(rate_limit=0, daily_quota=0, fault_rate=0.0, seed=0) as sb:
        args = ["integration", "add", "--loja", "1", "--base-url", sb.base_url]
        bad = runner.invoke(app, [*args, "--access-token", "errado-a", "--secret-access-token", "errado-s"])
        assert bad.exit_code == 2 and "credenciais recusadas" in bad.output, bad.output
        assert len(bad.output.strip().splitlines()) == 1 and "indisponível" not in bad.output
        good = runner.invoke(
            app,
            [*args, "--access-token", "sandbox-access-token", "--secret-access-token", "sandbox-secret-token"],
        )
        assert good.exit_code == 0, good.output


def test_the_real_suitecrm_checks_credentials(runner: CliRunner) -> None:
    real = real_suite()
    code, out = _add_suite(runner, real.base_url, f"desconhecido-{real.tag}", "qualquer-0123")
    assert code == 2 and f"client_id desconhecido no SuiteCRM (desconhecido-{real.tag})" in out
    code, out = _add_suite(runner, real.base_url, real.client_id, "segredo-errado-0123")
    assert code == 2 and "credenciais recusadas" in out
    code, out = _add_suite(runner, real.base_url, real.client_id, real.client_secret)
    assert code == 0, out
