"""What the sync commands report: dry-run plans, progress on long runs, exit code 1 when
items failed, the log and its filters (CLI and REST)."""

from __future__ import annotations

import json

from .spec_harness import World


def test_dry_run_prints_every_planned_write_and_writes_nothing(world: World) -> None:
    ids = [world.local_create(nome=f"Cliente {i}", email=f"c{i}@email.com") for i in range(3)]
    remote = world.sandbox.panel_create("clientes", {"tipo_pessoa": "PF", "nome": "Pedro Oliveira"})

    out = world.cli("sync", "--loja", world.loja_id, "--entity", "cliente", "--dry-run")

    assert out.exit_code == 0, out.stdout + out.stderr
    plan = [ln for ln in out.stdout.splitlines() if ln.startswith("[simulação]") and "planejada" not in ln]
    for cid in ids:
        assert any(f"local={cid}" in ln and "create" in ln for ln in plan), out.stdout
    assert any(f"externo={remote['id']}" in ln for ln in plan), out.stdout
    assert "nada foi gravado" in out.stdout
    assert len(world.remote_all("clientes")) == 1
    assert len(world.local_clientes()) == 3
    assert world.count_links() == 0

    as_json = world.cli("push", "--loja", world.loja_id, "--entity", "cliente", "--dry-run", "--json")
    assert as_json.exit_code == 0
    planned = [p for item in as_json.json()["itens"] for p in item["planned"]]
    assert {p["entity_id"] for p in planned if p["operacao"] == "create"} == set(ids)
    assert len(world.remote_all("clientes")) == 1


def test_long_pull_reports_progress_and_json_for_machines(world: World) -> None:
    world.sandbox.store.bulk_create("clientes", [{"tipo_pessoa": "PF", "nome": f"Cliente {i:04d}"} for i in range(250)])

    out = world.cli("pull", "--loja", world.loja_id, "--entity", "cliente", "--json")

    assert out.exit_code == 0, out.stderr
    result = out.json()
    assert result["total_criados"] == 250 and result["paginas"] >= 3
    events = [json.loads(ln) for ln in out.stderr.splitlines() if ln.startswith("{")]
    assert events and all(e["evento"] == "progresso" for e in events)
    assert events[-1]["records"] == 250 and events[-1]["pages"] >= 3
    assert "quota_left" in events[-1]
    assert result["progresso"]["records"] == 250

    human = world.cli("pull", "--loja", world.loja_id, "--entity", "cliente", "--full")
    assert human.exit_code == 0
    assert "250 processados" in human.stdout
    assert "registros" in human.stderr and "páginas" in human.stderr  # the Rich bar's last frame


def test_item_errors_exit_1_and_are_in_the_log(world: World) -> None:
    """One cliente GestãoClick refuses (an invalid CPF the ERP stored before validation
    existed) among good ones: the run finishes, reports the failure, exits 1."""
    good = world.local_create(nome="Maria Santos", email="maria@email.com")
    bad = world.local_create(nome="Cliente Ruim", email="ruim@email.com")
    from crmsync.db.local import Cliente
    from crmsync.db.session import session_scope

    with session_scope() as s:
        row = s.get(Cliente, bad)
        assert row is not None
        row.cpf = "12345678900"  # fails the check digits

    out = world.cli("push", "--loja", world.loja_id, "--entity", "cliente")

    assert out.exit_code == 1, out.stdout + out.stderr
    assert "1 com erro" in out.stdout
    assert "falha em" in out.stderr
    assert world.link_for_local(good) is not None
    assert world.link_for_local(bad) is None

    errors = world.cli("log", "--loja", world.loja_id, "--status", "erro", "--json").json()
    assert [r["entity_id"] for r in errors["items"]] == [bad]
    table = world.cli("log", "--loja", world.loja_id, "--status", "erro")
    assert table.exit_code == 0 and "erro" in table.stdout

    api = world.api("GET", "/api/crm/logs", params={"status": "erro"}).json()
    assert [r["entity_id"] for r in api["items"]] == [bad]


def test_log_filters_and_pagination(world: World) -> None:
    for i in range(4):
        world.local_create(nome=f"Cliente {i}", email=f"c{i}@email.com")
    assert world.cli("push", "--loja", world.loja_id, "--entity", "cliente").exit_code == 0
    world.sandbox.panel_create("clientes", {"tipo_pessoa": "PF", "nome": "Pedro Oliveira"})
    assert world.cli("pull", "--loja", world.loja_id, "--entity", "cliente").exit_code == 0

    pushes = world.api("GET", "/api/crm/logs", params={"direcao": "push", "entidade": "cliente"}).json()
    assert pushes["total"] == 4 and {r["operacao"] for r in pushes["items"]} == {"create"}
    pulls = world.api("GET", "/api/crm/logs", params={"direcao": "pull", "desde": "1h"}).json()
    assert any(r["operacao"] == "create" for r in pulls["items"])
    page1 = world.api("GET", "/api/crm/logs", params={"limit": 2}).json()
    page2 = world.api("GET", "/api/crm/logs", params={"limit": 2, "offset": 2}).json()
    assert len(page1["items"]) == 2 and page1["total"] == page2["total"] >= 5
    assert not {r["id"] for r in page1["items"]} & {r["id"] for r in page2["items"]}
    bulk = world.cli("log", "--loja", world.loja_id, "--trigger", "bulk", "--since", "30m", "--json").json()
    assert bulk["total"] == 4
    limited = world.cli("log", "--loja", world.loja_id, "--limit", "1", "--json").json()
    assert len(limited["items"]) == 1


def test_push_since_takes_only_recently_changed_rows(world: World) -> None:
    """`--since 24h` is the spec's `sincronizarTodosParaCrm` window; `--all` takes every row."""
    from datetime import UTC, datetime, timedelta

    from crmsync.db.local import Cliente
    from crmsync.db.session import session_scope

    old = world.local_create(nome="Cliente Antigo", email="antigo@email.com")
    new = world.local_create(nome="Cliente Novo", email="novo@email.com")
    with session_scope() as s:
        row = s.get(Cliente, old)
        assert row is not None
        row.modificado_em = datetime.now(UTC) - timedelta(days=2)

    out = world.cli("push", "--loja", world.loja_id, "--entity", "cliente", "--since", "24h", "--json")

    assert out.exit_code == 0, out.stdout + out.stderr
    assert [i["entity_id"] for i in out.json()["itens"]] == [new]
    assert world.link_for_local(old) is None and world.link_for_local(new) is not None

    everything = world.cli("push", "--loja", world.loja_id, "--entity", "cliente", "--all", "--json")
    assert everything.exit_code == 0
    assert {i["entity_id"] for i in everything.json()["itens"]} == {old, new}
    assert world.link_for_local(old) is not None
    assert len(world.remote_all("clientes")) == 2


def test_api_sync_dry_run_answers_the_spec_shape_and_writes_nothing(world: World) -> None:
    cid = world.local_create(nome="Maria Santos", email="maria@email.com")
    world.sandbox.panel_create("clientes", {"tipo_pessoa": "PF", "nome": "Pedro Oliveira"})

    resp = world.api("POST", "/api/crm/sync?esperar=true", json={"entidades": ["cliente"], "dry_run": True})

    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert {"para_crm", "do_crm", "conflitos"} <= set(body)
    assert {"total_conflitos", "resolvidos", "pendentes"} <= set(body["conflitos"])
    assert body["planned"], "a dry run lists what it would write"
    assert world.link_for_local(cid) is None
    assert len(world.remote_all("clientes")) == 1 and len(world.local_clientes()) == 1

    real = world.api("POST", "/api/crm/sync?esperar=true")  # no body: every entity, for real
    assert real.status_code == 200 and real.json()["success"] is True
    assert world.link_for_local(cid) is not None
    assert len(world.remote_all("clientes")) == 2 and len(world.local_clientes()) == 2
