"""The acceptance path end to end, as a user runs it: default settings (a SQLite file in
the working directory), `crmsync loja add`, `crmsync serve` in its own process on a free
port, then plain HTTP: create, read, update, list and soft-delete a cliente, a produto and
a venda."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from api_load.server import serve


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, str]]:
    with serve(tmp_path, args=["--no-worker"]) as served:
        yield served.base, served.keys[0]
    assert (tmp_path / "crmsync.db").exists()  # the default: a SQLite file in the working directory


def test_serve_crud_over_real_http(server: tuple[str, str]) -> None:
    base, key = server
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=30) as http:
        cli = http.post(
            "/api/clientes",
            json={"nome": "Maria Santos", "email": "maria@email.com", "cpf": "529.982.247-25"},
        )
        assert cli.status_code == 201, cli.text
        cid = cli.json()["id"]
        prod = http.post("/api/produtos", json={"nome": "Caneta", "codigo": "CAN-1", "valor_venda": "2.50"})
        assert prod.status_code == 201, prod.text
        pid = prod.json()["id"]
        venda = http.post(
            "/api/vendas",
            json={
                "id_cliente": cid,
                "data": "2026-01-15",
                "itens": [{"id_produto": pid, "quantidade": 3, "valor_unitario": "2.50"}],
            },
        )
        assert venda.status_code == 201, venda.text
        vid = venda.json()["id"]
        assert venda.json()["valor_total"] == "7.5000"

        for path, ident, change, field in (
            ("clientes", cid, {"telefone": "(11) 3522-8899"}, "telefone"),
            ("produtos", pid, {"valor_venda": "3"}, "valor_venda"),
            ("vendas", vid, {"situacao": "Concretizada"}, "situacao"),
        ):
            got = http.get(f"/api/{path}/{ident}")
            assert got.status_code == 200 and got.json()["id"] == ident
            upd = http.put(f"/api/{path}/{ident}", json=change)
            assert upd.status_code == 200, upd.text
            assert http.get(f"/api/{path}/{ident}").json()[field] == upd.json()[field]
            listed = http.get(f"/api/{path}").json()
            assert [r["id"] for r in listed["registros"]] == [ident]
        assert http.get(f"/api/clientes/{cid}").json()["telefone"] == "+551135228899"

        for path, ident in (("vendas", vid), ("produtos", pid), ("clientes", cid)):
            deleted = http.delete(f"/api/{path}/{ident}")
            assert deleted.status_code == 200 and deleted.json()["deletado_em"]
            assert http.get(f"/api/{path}").json()["total"] == 0
            assert http.get(f"/api/{path}?incluir_deletados=true").json()["total"] == 1

        assert http.get("/api/clientes", headers={"Authorization": "Bearer wrong"}).status_code == 401
        too_big = http.post(
            "/api/clientes", content=b"x" * (1024 * 1024 + 1), headers={"Content-Type": "application/json"}
        )
        assert too_big.status_code == 413 and "detail" in too_big.json()
        assert http.get("/docs").status_code == 200
