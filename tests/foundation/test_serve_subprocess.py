"""The acceptance path end to end, as a user runs it: default settings (a SQLite file in
the working directory), `crmsync loja add`, `crmsync serve` in its own process on a free
port, then plain HTTP: create, read, update, list and soft-delete a cliente, a produto and
a venda."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

CRMSYNC = str(Path(sys.executable).parent / "crmsync")


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("CRMSYNC_")}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, str]]:
    added = subprocess.run(
        [CRMSYNC, "loja", "add", "--nome", "Loja Demo", "--json"],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    key = json.loads(added.stdout)["api_key"]
    port = _free_port()
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen(
        [CRMSYNC, "serve", "--host", "127.0.0.1", "--port", str(port), "--no-worker"],
        cwd=tmp_path,
        env=_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120  # bounds a hang only: start-up is slow on a loaded machine
        while True:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                if httpx.get(f"{base}/health", timeout=10).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "crmsync serve did not answer /health"
            time.sleep(0.2)
        yield base, key
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
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
