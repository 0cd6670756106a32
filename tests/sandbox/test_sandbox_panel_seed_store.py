"""Panel back door, seeded data, file persistence and the store's paging plan at volume."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
from validate_docbr import CNPJ, CPF

from crmsync.sandbox import SandboxConfig, SandboxServer
from crmsync.sandbox.store import SandboxStore

CPF_FMT = re.compile(r"^\d{3}\.\d{3}\.\d{3}-\d{2}$")
CNPJ_FMT = re.compile(r"^\d{2}\.\d{3}\.\d{3}/\d{4}-\d{2}$")
PHONE_FMT = re.compile(r"^\(\d{2}\) (9 )?\d{4}-\d{4}$")


def test_panel_is_unlimited_unauthenticated_and_bumps_modificado_em() -> None:
    with SandboxServer(rate_limit=1.0, daily_quota=1) as sb, httpx.Client(base_url=sb.base_url) as c:
        for i in range(5):  # far beyond the API limits, no auth headers
            r = c.post("/_sandbox/panel/clientes", json={"tipo_pessoa": "PF", "nome": f"Painel {i}"})
            assert r.status_code == 200 and r.json()["data"]["id"] == str(i + 1)
        assert len(c.get("/_sandbox/panel/clientes").json()["data"]) == 5
        assert sb.stats()["total_requests"] == 0  # the back door is not API traffic
        sb.set_clock_offset(600)
        edited = c.put("/_sandbox/panel/clientes/2", json={"email": "novo@x.com.br"}).json()["data"]
        assert edited["email"] == "novo@x.com.br" and edited["nome"] == "Painel 1"  # partial edit is fine
        assert edited["modificado_em"] > edited["cadastrado_em"]
        assert c.delete("/_sandbox/panel/clientes/3").json()["data"] == "Cliente excluido com sucesso"
        assert c.get("/_sandbox/panel/clientes/3").status_code == 404
        assert c.post("/_sandbox/panel/clientes", json={"nome": "sem tipo"}).status_code == 400
        # Python-level panel API on the harness.
        made = sb.panel_create("clientes", {"tipo_pessoa": "PJ", "nome": "Py LTDA", "cnpj": "43937086000196"})
        assert sb.panel_update("clientes", made["id"], {"ativo": "0"})["ativo"] == "0"
        sb.panel_delete("clientes", made["id"])
        nomes = [r["nome"] for r in sb.panel_list("clientes")]
        assert nomes == ["Painel 0", "Painel 1", "Painel 3", "Painel 4"]
        # The API sees panel edits (one call: quota is 1).
        api = c.get("/api/clientes", headers=sb.headers).json()
        assert api["meta"]["total_registros"] == 4


def test_seeded_records_are_realistic_and_deterministic() -> None:
    counts = {"clientes": 60, "produtos": 15, "vendas": 10}
    with SandboxServer(rate_limit=0, seed=42, seed_records=counts) as sb:
        clientes = sb.panel_list("clientes")
        produtos = sb.panel_list("produtos")
        vendas = sb.panel_list("vendas")
    assert (len(clientes), len(produtos), len(vendas)) == (60, 15, 10)
    pfs = [c for c in clientes if c["tipo_pessoa"] == "PF"]
    pjs = [c for c in clientes if c["tipo_pessoa"] == "PJ"]
    assert pfs and pjs
    assert all(CPF_FMT.match(c["cpf"]) and CPF().validate(c["cpf"]) for c in pfs)
    assert all(CNPJ_FMT.match(c["cnpj"]) and CNPJ().validate(c["cnpj"]) for c in pjs)
    assert any(re.search(r"\b(LTDA|ME|EIRELI|Ltda\.|S\.A\.|EPP)$", c["nome"]) for c in pjs)
    assert all(PHONE_FMT.match(c["telefone"]) and PHONE_FMT.match(c["celular"]) for c in clientes)
    assert all("@" in c["email"] for c in clientes)
    endereco = clientes[0]["enderecos"][0]["endereco"]
    assert re.match(r"^\d{5}-\d{3}$", endereco["cep"]) and len(endereco["estado"]) == 2
    assert all(int(p["produtos"][0]["produto"]["produto_id"]) for p in vendas)
    with SandboxServer(rate_limit=0, seed=42, seed_records=counts) as again:
        assert [c["cpf"] for c in again.panel_list("clientes")] == [c["cpf"] for c in clientes]
    with SandboxServer(rate_limit=0, seed=42, seed_records=7) as only:
        assert only.store.count("clientes") == 7 and only.store.count("vendas") == 0


def test_file_database_survives_a_restart(tmp_path: Path) -> None:
    db = str(tmp_path / "sandbox.db")
    config = SandboxConfig(rate_limit=0, db_path=db, seed=1, seed_records={"clientes": 5})
    with SandboxServer(config) as sb, httpx.Client(base_url=sb.base_url, headers=sb.headers) as c:
        made = c.post("/clientes", json={"tipo_pessoa": "PF", "nome": "Persistente"}).json()["data"]
        produto = sb.panel_create("produtos", {"nome": "P", "codigo_interno": "P1", "valor_custo": "2"})
    with SandboxServer(config) as sb, httpx.Client(base_url=sb.base_url, headers=sb.headers) as c:
        assert sb.store.count("clientes") == 6  # seeding does not run again on a non-empty file
        assert c.get(f"/clientes/{made['id']}").json()["data"] == made
        again = sb.panel_create("produtos", {"nome": "Q", "codigo_interno": "Q1", "valor_custo": "2"})
        old_var = int(produto["variacoes"][0]["variacao"]["id"])
        assert int(again["variacoes"][0]["variacao"]["id"]) > old_var  # ids keep growing across restarts


def test_deep_pages_use_an_index_and_stay_correct_at_volume() -> None:
    store = SandboxStore()
    n = 20_000
    store.bulk_create("clientes", ({"tipo_pessoa": "PF", "nome": f"Cliente {i:06d}"} for i in range(n)))
    for ordenacao in ("id", "nome", "cadastrado_em", "modificado_em"):
        plan = " ".join(store.explain_page("clientes", ordenacao))
        assert "TEMP B-TREE" not in plan, plan  # no sort of the whole table
    page = store.list_page("clientes", pagina=200, limite=100, ordenacao="nome", direcao="desc")
    assert page.total == n and len(page.rows) == 100
    assert page.rows[0]["nome"] == f"Cliente {n - 19901:06d}"
    last = store.list_page("clientes", pagina=200, limite=100)
    assert [r["id"] for r in last.rows] == [str(i) for i in range(19901, 20001)]
    store.close()


def test_restart_keeps_data_and_port_and_search_ignores_accents() -> None:
    with SandboxServer(rate_limit=0) as sb:
        sb.panel_create("clientes", {"tipo_pessoa": "PF", "nome": "JOÃO Conceição"})
        base = sb.base_url
        sb.stop()  # an outage: the port refuses connections
        try:
            httpx.get(base + "/clientes", headers=sb.headers, timeout=2)
            raise AssertionError("the server should be down")
        except httpx.ConnectError:
            pass
        sb.start()
        assert sb.base_url == base
        found = httpx.get(base + "/clientes", params={"nome": "joao conceicao"}, headers=sb.headers).json()
        assert [c["nome"] for c in found["data"]] == ["JOÃO Conceição"]
