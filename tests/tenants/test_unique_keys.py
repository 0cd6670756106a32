"""Unique keys held by the database: simultaneous creates of one CPF (or product code) on
SQLite, PostgreSQL and MariaDB leave exactly one live row, the others answer 409 naming the
field; placeholders and a store's chaves_ignoradas stay shareable; a deleted row frees its
keys; the engine's bulk inserts write the keys too."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from crmsync.db.local import Cliente, Produto
from crmsync.db.session import session_scope
from crmsync.engine.unique_keys import refresh_store_keys
from crmsync.services.integracoes import create_integracao
from crmsync.services.lojas import create_loja

from .conftest import LiveApp, use_database, valid_cpf

THREADS = 8
ROUNDS = 4


def _fire(url: str, path: str, key: str, bodies: list[dict[str, Any]]) -> list[httpx.Response]:
    """POST every body at once (a barrier releases the threads together)."""
    barrier = threading.Barrier(len(bodies))
    answers: list[httpx.Response | None] = [None] * len(bodies)

    def one(i: int) -> None:
        with httpx.Client(base_url=url, timeout=60, headers={"Authorization": f"Bearer {key}"}) as client:
            barrier.wait()
            answers[i] = client.post(path, json=bodies[i])

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(bodies))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(a is not None for a in answers)
    return [a for a in answers if a is not None]


def _store() -> tuple[int, str]:
    with session_scope() as s:
        loja, key = create_loja(s, "Loja")
        return loja.id, key


@pytest.fixture
def app(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, live_app: Callable[[], LiveApp]) -> LiveApp:
    """The live app on this test's database (every kind)."""
    use_database(db_url, tmp_path, monkeypatch)
    return live_app()


def test_simultaneous_creates_leave_one_row(app: LiveApp) -> None:
    loja_id, key = _store()
    for n in range(ROUNDS):
        cpf = valid_cpf(123456700 + n)
        bodies = [{"nome": f"Pessoa {i}", "cpf": cpf} for i in range(THREADS)]
        answers = _fire(app.url, "/api/clientes", key, bodies)
        codes = sorted(a.status_code for a in answers)
        assert codes == [201] + [409] * (THREADS - 1), [a.text for a in answers]
        assert all("cpf" in str(a.json()["detail"]) for a in answers if a.status_code == 409)
        with session_scope() as s:
            live = s.scalar(
                select(func.count()).where(
                    Cliente.id_loja == loja_id, Cliente.cpf == cpf, Cliente.deletado_em.is_(None)
                )
            )
        assert live == 1
    codigo = [{"nome": f"Produto {i}", "codigo": "ABC-1"} for i in range(THREADS)]
    answers = _fire(app.url, "/api/produtos", key, codigo)
    assert sorted(a.status_code for a in answers) == [201] + [409] * (THREADS - 1)
    with session_scope() as s:
        assert s.scalar(select(func.count()).where(Produto.id_loja == loja_id, Produto.codigo == "ABC-1")) == 1


def test_keys_free_on_delete_and_ignore_placeholders(app: LiveApp) -> None:
    loja_id, key = _store()
    _other_id, other_key = _store()
    with session_scope() as s:
        create_integracao(
            s,
            loja_id=loja_id,
            provider="gestao_click",
            base_url="http://127.0.0.1:9",
            access_token="a",
            secret_access_token="b",
            config={"chaves_ignoradas": ["00000000000", "SEM-CODIGO"]},
        )
    h = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=app.url, timeout=30, headers=h) as c:
        first = c.post("/api/clientes", json={"nome": "Ana", "email": "Ana@X.com"})
        assert first.status_code == 201
        again = c.post("/api/clientes", json={"nome": "Ana 2", "email": "ana@x.com"})
        assert again.status_code == 409 and "email" in again.json()["detail"]
        assert "chave_email" not in first.json()  # internal columns are not part of the API
        # placeholders people type for "none", and the store's own ignored values, repeat freely
        for i in range(2):
            assert c.post("/api/clientes", json={"nome": f"S{i}", "email": "naotem@naotem.com"}).status_code == 201
            assert c.post("/api/produtos", json={"nome": f"P{i}", "codigo": "SEM-CODIGO"}).status_code == 201
        # a deleted row frees its keys
        assert c.delete(f"/api/clientes/{first.json()['id']}").status_code == 200
        assert c.post("/api/clientes", json={"nome": "Ana 3", "email": "ana@x.com"}).status_code == 201
        # product codes are compared exactly: case matters on every database (MariaDB too)
        assert c.post("/api/produtos", json={"nome": "Caixa", "codigo": "abc"}).status_code == 201
        assert c.post("/api/produtos", json={"nome": "Caixa 2", "codigo": "ABC"}).status_code == 201
    with httpx.Client(base_url=app.url, timeout=30, headers={"Authorization": f"Bearer {other_key}"}) as c:
        # another store holds its own keys
        assert c.post("/api/clientes", json={"nome": "Ana", "email": "ana@x.com"}).status_code == 201
    with session_scope() as s:
        assert refresh_store_keys(s, loja_id) == 0  # the writes above kept every key right
