"""Bad input to the sync CLI and REST API: refused with a reason, nothing changed.

CLI: exit code 2 and one line on stderr (unknown store, unknown entity, bad --since, no
integration, disabled integration, conflicting options, bad --use/--field). REST: the
right 4xx with `{"detail": ...}`, never another store's rows, never a secret.
"""

from __future__ import annotations

import socket

import pytest
from sqlalchemy import func, select

from crmsync.db.session import session_scope
from crmsync.db.sync import CrmSyncLog

from .spec_harness import World, make_store


def _log_count() -> int:
    with session_scope() as s:
        return int(s.scalar(select(func.count()).select_from(CrmSyncLog)) or 0)


def _assert_refused(out: object, *needles: str) -> None:
    assert out.exit_code == 2, (out.exit_code, out.stdout, out.stderr)  # type: ignore[attr-defined]
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]  # type: ignore[attr-defined]
    assert len(lines) == 1, out.stderr  # type: ignore[attr-defined]
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.mark.parametrize(
    "args, needle",
    [
        (["push", "--loja", "999", "--entity", "cliente"], "loja 999 não encontrada"),
        (["pull", "--loja", "999", "--entity", "cliente"], "loja 999 não encontrada"),
        (["sync", "--loja", "999"], "loja 999 não encontrada"),
        (["push", "--loja", "{loja}", "--entity", "fornecedor"], "entidade desconhecida"),
        (["pull", "--loja", "{loja}", "--entity", "fornecedor"], "entidade desconhecida"),
        (["sync", "--loja", "{loja}", "--entity", "fornecedor"], "entidade desconhecida"),
        (["push", "--loja", "{loja}", "--entity", "cliente", "--since", "ontem"], "período inválido"),
        (["push", "--loja", "{loja}", "--entity", "cliente", "--since", "0h"], "período inválido"),
        (["push", "--loja", "{loja}", "--entity", "cliente", "--id", "1", "--all"], "use só uma de"),
        (["push", "--loja", "{loja}", "--entity", "cliente", "--id", "424242"], "não encontrado"),
        (["log", "--loja", "{loja}", "--status", "quebrado"], "status inválido"),
        (["log", "--loja", "999"], "loja 999 não encontrada"),
        (["conflicts", "list", "--loja", "999"], "loja 999 não encontrada"),
        (["conflicts", "resolve", "1", "--use", "talvez"], "--use inválido"),
        (["conflicts", "resolve", "1", "--use", "merge", "--field", "nome"], "--field inválido"),
        (["conflicts", "resolve", "1", "--use", "local", "--field", "nome=local"], "só vale com --use merge"),
        (["conflicts", "resolve", "77", "--use", "local"], "conflito 77 não encontrado"),
        (["duplicates", "resolve", "1"], "exatamente uma"),
        (["duplicates", "resolve", "1", "--link", "--dismiss"], "exatamente uma"),
        (["duplicates", "resolve", "55", "--link"], "duplicata 55 não encontrada"),
    ],
)
def test_cli_refuses_bad_usage_with_exit_2(world: World, args: list[str], needle: str) -> None:
    before = _log_count()
    out = world.cli(*[a.replace("{loja}", str(world.loja_id)) for a in args])
    _assert_refused(out, needle)
    assert _log_count() == before
    assert world.sandbox.panel_list("clientes") == []


def test_cli_refuses_store_without_integration(world: World) -> None:
    from crmsync.services.lojas import create_loja

    with session_scope() as s:
        loja, _ = create_loja(s, "Loja sem CRM")
        other = loja.id
    for cmd in (["push", "--entity", "cliente"], ["pull", "--entity", "cliente"], ["sync"]):
        out = world.cli(cmd[0], "--loja", other, *cmd[1:])
        _assert_refused(out, f"a loja {other} não tem integração", "crmsync integration add")


def test_cli_refuses_disabled_integration_and_changes_nothing(world: World) -> None:
    cid = world.local_create(nome="Maria Santos", email="maria@email.com")
    world.set_active(False)
    for cmd in (["push", "--entity", "cliente", "--id", str(cid)], ["pull", "--entity", "cliente"], ["sync"]):
        out = world.cli(cmd[0], "--loja", world.loja_id, *cmd[1:])
        _assert_refused(out, "desativada")
    assert world.sandbox.panel_list("clientes") == []
    assert world.link_for_local(cid) is None
    assert world.log_rows() == []


def test_cli_refuses_push_of_read_only_entity(world: World) -> None:
    world.set_config({"campos_especiais": {"produtos": {"estrategia": "crm_wins", "read_only": True}}})
    out = world.cli("push", "--loja", world.loja_id, "--entity", "produto")
    _assert_refused(out, "produto", "somente leitura")


# ----------------------------------------------------------------------------- REST


def test_api_requires_a_valid_store_key(world: World) -> None:
    for method, path in (
        ("POST", "/api/crm/sync"),
        ("GET", "/api/crm/conflitos"),
        ("GET", "/api/crm/logs"),
        ("GET", "/api/crm/duplicatas"),
        ("POST", "/api/crm/sync/import/cliente"),
    ):
        assert world.client.request(method, path).status_code == 401
        resp = world.client.request(method, path, headers={"Authorization": "Bearer crm_nao_existe"})
        assert resp.status_code == 401
        assert "detail" in resp.json()


def test_api_unknown_entity_is_404(world: World) -> None:
    for path in ("/api/crm/sync/fornecedor/1", "/api/crm/sync/import/fornecedor"):
        resp = world.api("POST", path)
        assert resp.status_code == 404, resp.text
        assert "entidade desconhecida" in resp.json()["detail"]
    resp = world.api("POST", "/api/crm/sync", json={"entidades": ["fornecedor"]})
    assert resp.status_code == 404
    assert world.api("POST", "/api/crm/sync/cliente/abc").status_code == 422


def test_api_bad_bodies_are_422(world: World) -> None:
    assert world.api("POST", "/api/crm/sync", json={"entidades": "cliente"}).status_code == 422
    assert world.api("POST", "/api/crm/sync", json={"outra": 1}).status_code == 422
    assert world.api("POST", "/api/crm/conflitos/1/resolver", json={"usar": "talvez"}).status_code == 422
    assert world.api("POST", "/api/crm/duplicatas/1/resolver", json={"acao": "fundir"}).status_code == 422
    resp = world.api("GET", "/api/crm/logs", params={"status": "quebrado"})
    assert resp.status_code == 422
    assert world.api("GET", "/api/crm/logs", params={"desde": "ontem"}).status_code == 422
    assert world.api("GET", "/api/crm/conflitos", params={"status": "talvez"}).status_code == 422


def test_api_missing_integration_is_409_in_portuguese(world: World) -> None:
    from crmsync.services.lojas import create_loja

    with session_scope() as s:
        _loja, key = create_loja(s, "Loja sem CRM")
    headers = {"Authorization": f"Bearer {key}"}
    resp = world.client.post("/api/crm/sync/import/cliente", headers=headers)
    assert resp.status_code == 409
    assert "não tem integração" in resp.json()["detail"]
    world.set_active(False)
    resp = world.api("POST", "/api/crm/sync")
    assert resp.status_code == 409
    assert "desativada" in resp.json()["detail"]


def test_api_never_reaches_another_stores_rows(world: World) -> None:
    """Store B's key: store A's cliente, conflicts, duplicates and log are 404 / invisible."""
    cid = world.local_create(nome="Maria Santos", email="maria@email.com")
    world.cli("push", "--loja", world.loja_id, "--entity", "cliente", "--id", cid)
    _, key_b, _ = make_store(world.sandbox, "Loja B")
    b = {"Authorization": f"Bearer {key_b}"}
    resp = world.client.post(f"/api/crm/sync/cliente/{cid}", headers=b)
    assert resp.status_code == 404
    assert world.client.get("/api/crm/logs", headers=b).json()["total"] == 0
    assert world.client.get("/api/crm/conflitos/1", headers=b).status_code == 404
    assert world.client.post("/api/crm/conflitos/1/resolver", headers=b, json={"usar": "local"}).status_code == 404
    assert world.client.post("/api/crm/duplicatas/1/resolver", headers=b, json={"acao": "descartar"}).status_code == 404
    assert world.api("GET", "/api/crm/logs").json()["total"] >= 1


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_api_unreachable_provider_is_5xx_without_secrets(world: World) -> None:
    """An integration pointing at a dead address: a clear 502/503, never a token."""
    offline, key, _integ_id = make_store(world.sandbox, "Loja offline", base_url=f"http://127.0.0.1:{_closed_port()}")
    headers = {"Authorization": f"Bearer {key}"}
    resp = world.client.post("/api/crm/sync/import/cliente?esperar=true", headers=headers)
    assert resp.status_code in (502, 503), resp.text
    detail = resp.json()["detail"]
    assert "GestãoClick" in detail
    for secret in (world.sandbox.config.access_token, world.sandbox.config.secret_access_token):
        assert secret not in resp.text

    # The CLI says the same in one line and exits 1 (the run failed; the configuration is valid).
    out = world.cli("pull", "--loja", offline, "--entity", "cliente", "--json")
    assert out.exit_code == 1
    assert out.json()["success"] is False and out.json()["http_status"] in (502, 503)
    # The API's run opened the integration's breaker (one refused connection is enough), so
    # the CLI says the CRM is unreachable without trying again: still one line, naming it.
    assert out.stderr.startswith("erro: GestãoClick") and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert "indisponível" in out.stderr or "inacessível" in out.stderr, out.stderr
    assert world.sandbox.config.secret_access_token not in out.stdout + out.stderr
