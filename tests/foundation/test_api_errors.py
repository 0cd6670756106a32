"""The API's error answers: JSON `{"detail": ...}` for every error, 401 without a valid key,
413 over 1 MiB, 404/405/422 in the same shape, 500 without a stack trace."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from crmsync.api.app import create_app
from crmsync.db.local import Cliente
from crmsync.db.session import session_scope

from .helpers import Store

ROUTES = [
    ("GET", "/api/clientes"),
    ("POST", "/api/clientes"),
    ("GET", "/api/clientes/1"),
    ("PUT", "/api/clientes/1"),
    ("DELETE", "/api/clientes/1"),
    ("GET", "/api/produtos"),
    ("POST", "/api/produtos"),
    ("GET", "/api/produtos/1"),
    ("PUT", "/api/produtos/1"),
    ("DELETE", "/api/produtos/1"),
    ("GET", "/api/vendas"),
    ("POST", "/api/vendas"),
    ("GET", "/api/vendas/1"),
    ("PUT", "/api/vendas/1"),
    ("DELETE", "/api/vendas/1"),
]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer crm_wrong"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer "},
    ],
    ids=["missing", "wrong", "not-bearer", "empty"],
)
def test_local_routes_need_a_valid_store_key(client: TestClient, store: Store, headers: dict[str, str]) -> None:
    for method, path in ROUTES:
        r = client.request(method, path, headers=headers, json={"nome": "X"} if method in ("POST", "PUT") else None)
        assert r.status_code == 401, (method, path, r.text)
        assert isinstance(r.json()["detail"], str)
        assert r.headers["www-authenticate"] == "Bearer"


def test_admin_token_is_not_a_store_key(client: TestClient, store: Store) -> None:
    r = client.get("/api/clientes", headers={"Authorization": "Bearer admin-token-for-tests"})
    assert r.status_code == 401


def _clientes() -> int:
    with session_scope() as session:
        return int(session.scalar(select(func.count()).select_from(Cliente)) or 0)


def test_body_over_one_mebibyte_is_413_and_writes_nothing(client: TestClient, store: Store) -> None:
    big = b'{"nome": "' + b"x" * (1024 * 1024) + b'"}'
    r = client.post("/api/clientes", content=big, headers={**store.headers, "Content-Type": "application/json"})
    assert r.status_code == 413
    assert "detail" in r.json()

    def chunks() -> object:  # no Content-Length: counted while reading
        yield b'{"nome": "'
        for _ in range(17):
            yield b"x" * 65536
        yield b'"}'

    r = client.post("/api/clientes", content=chunks(), headers={**store.headers, "Content-Type": "application/json"})
    assert r.status_code == 413
    assert _clientes() == 0
    # Just under the limit is read normally (and then refused for its own reasons).
    ok = b'{"nome": "' + b"x" * 1000 + b'", "observacoes": "' + b"y" * (1024 * 1024 - 1100) + b'"}'
    assert len(ok) <= 1024 * 1024
    r = client.post("/api/clientes", content=ok, headers={**store.headers, "Content-Type": "application/json"})
    assert r.status_code == 422 and r.json()["detail"][0]["campo"] == "nome"


def test_malformed_json_and_wrong_shapes_are_422(client: TestClient, store: Store) -> None:
    h = {**store.headers, "Content-Type": "application/json"}
    for content in (b"{bad json", b"[1, 2]", b'"texto"', b""):
        r = client.post("/api/clientes", content=content, headers=h)
        assert r.status_code == 422, (content, r.text)
        assert isinstance(r.json()["detail"], list)
    assert client.get("/api/clientes/abc", headers=store.headers).status_code == 422


def test_unknown_route_and_method_answer_json(client: TestClient) -> None:
    r = client.get("/nada/aqui")
    assert r.status_code == 404 and r.json() == {"detail": "não encontrado"}
    r = client.patch("/api/clientes")
    assert r.status_code == 405 and r.json() == {"detail": "método não permitido"}


def test_unexpected_error_is_500_without_stack_trace(app_env: dict[str, str]) -> None:
    app = create_app()

    def boom() -> None:
        raise RuntimeError("segredo interno: senha=hunter2")

    app.add_api_route("/boom", boom)
    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.get("/boom")
    assert r.status_code == 500
    assert r.json() == {"detail": "erro interno; veja o log do servidor"}
    assert "hunter2" not in r.text and "Traceback" not in r.text


def test_health_and_docs(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok", "database": "ok"}
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    for path in (
        "/api/clientes",
        "/api/clientes/{cliente_id}",
        "/api/produtos",
        "/api/vendas/{venda_id}",
        "/api/admin/lojas",
        "/api/admin/integracoes",
    ):
        assert path in spec["paths"]
