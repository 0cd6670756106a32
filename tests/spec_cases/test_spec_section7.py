"""The spec's section 7, case by case, end to end: our CLI and REST API, the real
GestaoClickProvider, and the sandbox standing in for GestãoClick over real HTTP.

Each case checks both sides through their APIs (ours for the ERP side, GestãoClick's for
the other), the link between them, and the log.
"""

from __future__ import annotations

from .spec_harness import World, minutes_ago

# ----------------------------------------------------------------------------- 7.1


def test_7_1_cliente_created_locally_reaches_gestaoclick_with_a_link(world: World) -> None:
    """10:00 POST /api/clientes -> push -> POST /clientes on GestãoClick -> link -> log."""
    cid = world.local_create(nome="Maria Santos", email="maria@email.com")

    out = world.cli("push", "--loja", world.loja_id, "--entity", "cliente", "--id", cid, "--json")

    assert out.exit_code == 0, out.stdout + out.stderr
    result = out.json()
    assert result["success"] is True
    assert result["operacao"] == "create"
    ext = result["external_id"]
    assert ext and world.link_for_local(cid) == ext
    remote = world.remote_get("clientes", ext)
    assert remote is not None
    assert remote["nome"] == "Maria Santos"
    assert remote["email"] == "maria@email.com"
    assert len(world.remote_all("clientes")) == 1
    [log] = world.log_rows(entity_id=cid)
    assert (log.operacao, log.status, log.direcao, log.external_id) == ("create", "sucesso", "push", ext)

    # Pushing again is a no-op: still one record there, same link.
    again = world.cli("push", "--loja", world.loja_id, "--entity", "cliente", "--id", cid, "--json").json()
    assert again["success"] is True and again["external_id"] == ext
    assert again["operacao"] in ("skip", "update")
    assert len(world.remote_all("clientes")) == 1


def test_7_1_via_the_sync_now_button(world: World) -> None:
    """`POST /api/crm/sync/cliente/{id}` answers the spec's shape `{success, operacao, external_id}`."""
    cid = world.local_create(nome="Maria Santos", email="maria@email.com")

    resp = world.api("POST", f"/api/crm/sync/cliente/{cid}?esperar=true")

    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["success"] is True and body["operacao"] == "create"
    assert world.link_for_local(cid) == body["external_id"]
    remote = world.remote_get("clientes", body["external_id"])
    assert remote is not None and remote["nome"] == "Maria Santos"


# ----------------------------------------------------------------------------- 7.2


def test_7_2_cliente_created_in_gestaoclick_panel_is_imported_with_a_link(world: World) -> None:
    """10:10 a user creates "Pedro Oliveira" in the panel; the next pull imports and links it."""
    remote = world.sandbox.panel_create("clientes", {"tipo_pessoa": "PF", "nome": "Pedro Oliveira"})

    out = world.cli("pull", "--loja", world.loja_id, "--entity", "cliente", "--json")

    assert out.exit_code == 0, out.stdout + out.stderr
    result = out.json()
    assert result["success"] is True
    assert result["total_criados"] == 1
    local_id = world.link_for_external(remote["id"])
    assert local_id is not None
    assert world.local(local_id)["nome"] == "Pedro Oliveira"
    assert [c["nome"] for c in world.local_clientes()] == ["Pedro Oliveira"]

    # The next poll finds nothing new and creates nothing twice.
    again = world.cli("pull", "--loja", world.loja_id, "--entity", "cliente", "--json").json()
    assert again["total_criados"] == 0
    assert len(world.local_clientes()) == 1


def test_7_2_via_the_import_button(world: World) -> None:
    """`POST /api/crm/sync/import/cliente` answers the spec's import shape."""
    remote = world.sandbox.panel_create("clientes", {"tipo_pessoa": "PF", "nome": "Pedro Oliveira"})

    resp = world.api("POST", "/api/crm/sync/import/cliente?esperar=true")

    assert resp.status_code == 200, resp.text
    body = resp.json()
    for key in (
        "success",
        "total_processados",
        "total_criados",
        "total_atualizados",
        "total_vinculados",
        "total_ignorados",
        "erros",
    ):
        assert key in body
    assert body["success"] is True and body["total_criados"] == 1 and body["erros"] == []
    local_id = world.link_for_external(remote["id"])
    assert local_id is not None and world.local(local_id)["nome"] == "Pedro Oliveira"


# ----------------------------------------------------------------------------- 7.3


def test_7_3_last_write_wins_newer_remote_edit_wins(world: World) -> None:
    """Default last_write_wins: local edit at 10:30, GestãoClick edit at 10:35 -> "J. Silva" on
    both sides (the spec's outcome, chosen by configuration)."""
    cid, ext = world.linked_cliente(nome="João Silva", email="joao@email.com")
    world.local_update(cid, nome="João Silva Santos", at=minutes_ago(5))
    world.sandbox.panel_update("clientes", ext, {"nome": "J. Silva"})

    out = world.cli("sync", "--loja", world.loja_id, "--entity", "cliente", "--json")

    assert out.exit_code == 0, out.stdout + out.stderr
    assert world.local(cid)["nome"] == "J. Silva"
    assert world.remote_get("clientes", ext)["nome"] == "J. Silva"  # type: ignore[index]
    assert world.pending_conflicts() == []


def test_7_3_last_write_wins_newer_local_edit_wins(world: World) -> None:
    """The other way round: GestãoClick edited 10 minutes ago, the ERP now -> local wins."""
    cid, ext = world.linked_cliente(nome="João Silva", email="joao@email.com")
    world.sandbox.set_clock_offset(-600)
    world.sandbox.panel_update("clientes", ext, {"nome": "J. Silva"})
    world.sandbox.set_clock_offset(0)
    world.local_update(cid, nome="João Silva Santos")

    out = world.cli("sync", "--loja", world.loja_id, "--entity", "cliente", "--json")

    assert out.exit_code == 0, out.stdout + out.stderr
    assert world.local(cid)["nome"] == "João Silva Santos"
    assert world.remote_get("clientes", ext)["nome"] == "João Silva Santos"  # type: ignore[index]
    assert world.pending_conflicts() == []


def _raise_nome_conflict(world: World, cid: int, ext: str) -> dict[str, object]:
    world.local_update(cid, nome="João Silva Santos", at=minutes_ago(10))
    world.sandbox.panel_update("clientes", ext, {"nome": "J. Silva"})
    out = world.cli("sync", "--loja", world.loja_id, "--entity", "cliente", "--json")
    assert out.exit_code == 0, out.stdout + out.stderr
    assert out.json()["conflitos"]["pendentes"] >= 1
    [conflict] = world.pending_conflicts()
    assert conflict["entity_id"] == cid and str(conflict["external_id"]) == str(ext)
    assert "nome" in conflict["campos"]
    # Nothing is lost: each side keeps its own value until someone decides.
    assert world.local(cid)["nome"] == "João Silva Santos"
    assert world.remote_get("clientes", ext)["nome"] == "J. Silva"  # type: ignore[index]
    return conflict


def test_7_3_manual_if_different_raises_a_conflict_then_api_and_cli_resolve_it(world: World) -> None:
    """`nome: manual_se_diferente 0.5`: "João Silva Santos" vs "J. Silva" (41% similar) goes to
    review instead of being lost; resolved once through the API (usar=local) and once through
    the CLI (--use merge --field nome=external), each time checked on both sides."""
    world.set_config({"campos_especiais": {"nome": {"estrategia": "manual_se_diferente", "threshold": 0.5}}})
    cid, ext = world.linked_cliente(nome="João Silva", email="joao@email.com")

    conflict = _raise_nome_conflict(world, cid, ext)
    nome = conflict["campos"]["nome"]  # type: ignore[index]
    assert (nome["local"], nome["externo"], nome["base"]) == ("João Silva Santos", "J. Silva", "João Silva")
    listed = world.cli("conflicts", "list", "--loja", world.loja_id)
    assert listed.exit_code == 0 and "J. Silva" in listed.stdout and "João Silva Santos" in listed.stdout
    api_view = world.api("GET", "/api/crm/conflitos").json()
    assert [c["id"] for c in api_view["items"]] == [conflict["id"]]

    # A field that is not in conflict, or a choice outside local|externo, is refused as is.
    bad = world.api(
        "POST", f"/api/crm/conflitos/{conflict['id']}/resolver", json={"usar": "merge", "campos": {"email": "local"}}
    )
    assert bad.status_code == 422, bad.text
    assert (
        world.api(
            "POST", f"/api/crm/conflitos/{conflict['id']}/resolver", json={"usar": "merge", "campos": {"nome": "ambos"}}
        ).status_code
        == 422
    )
    assert world.pending_conflicts() != []

    # 1) The API decides: keep the ERP's value on both sides.
    resp = world.api(
        "POST", f"/api/crm/conflitos/{conflict['id']}/resolver", json={"usar": "local", "resolvido_por": "gerente"}
    )
    assert resp.status_code == 200, resp.text
    assert world.local(cid)["nome"] == "João Silva Santos"
    assert world.remote_get("clientes", ext)["nome"] == "João Silva Santos"  # type: ignore[index]
    assert world.pending_conflicts() == []
    detail = world.api("GET", f"/api/crm/conflitos/{conflict['id']}").json()
    assert detail["status"] == "resolvido" and detail["resolvido_por"] == "gerente"
    resolved = world.api("GET", "/api/crm/conflitos", params={"status": "resolvido"}).json()
    assert [c["id"] for c in resolved["items"]] == [conflict["id"]]
    assert world.api("GET", "/api/crm/conflitos").json()["total"] == 0
    everything = world.cli("conflicts", "list", "--loja", world.loja_id, "--status", "todos", "--json").json()
    assert everything["total"] == 1
    # A decided conflict is not raised again by the next sync, nor decided twice.
    assert world.cli("sync", "--loja", world.loja_id, "--json").exit_code == 0
    assert world.pending_conflicts() == []
    again = world.api("POST", f"/api/crm/conflitos/{conflict['id']}/resolver", json={"usar": "externo"})
    assert again.status_code == 409

    # 2) Same clash again; this time the CLI decides field by field: GestãoClick's nome.
    world.local_update(cid, nome="João Silva", at=minutes_ago(1))
    assert world.cli("sync", "--loja", world.loja_id, "--entity", "cliente").exit_code == 0
    second = _raise_nome_conflict(world, cid, ext)
    out = world.cli("conflicts", "resolve", second["id"], "--use", "merge", "--field", "nome=external", "--by", "ana")
    assert out.exit_code == 0, out.stdout + out.stderr
    assert world.local(cid)["nome"] == "J. Silva"
    assert world.remote_get("clientes", ext)["nome"] == "J. Silva"  # type: ignore[index]
    assert world.pending_conflicts() == []
    decided = [r for r in world.log_rows(direcao="conflito") if r.status == "sucesso"]
    assert decided, "a resolution is logged"


# ----------------------------------------------------------------------------- 7.4


def test_7_4_same_email_on_both_sides_is_retro_linked_not_duplicated(world: World) -> None:
    """ERP has {450, joao@email.com, "João Silva"}; GestãoClick has {gc_99999, same e-mail,
    "João S."}; no link. The pull links them (retro-link) and creates nothing."""
    cid = world.local_create(nome="João Silva", email="joao@email.com")
    remote = world.sandbox.panel_create("clientes", {"tipo_pessoa": "PF", "nome": "João S.", "email": "joao@email.com"})

    out = world.cli("pull", "--loja", world.loja_id, "--entity", "cliente", "--json")

    assert out.exit_code == 0, out.stdout + out.stderr
    result = out.json()
    assert result["total_vinculados"] == 1 and result["total_criados"] == 0
    assert world.link_for_external(remote["id"]) == cid
    assert len(world.local_clientes()) == 1
    # A sync afterwards does not create the ERP's cliente in GestãoClick a second time.
    assert world.cli("sync", "--loja", world.loja_id, "--entity", "cliente").exit_code == 0
    assert len(world.remote_all("clientes")) == 1
    assert len(world.local_clientes()) == 1
    assert world.count_links() == 1
