"""Section 4.1's conflict types end to end: duplicate creation (exact keys and fuzzy names)
and deletion under each delete policy. (Simultaneous edit is case 7.3, in
test_spec_section7.py.)"""

from __future__ import annotations

import pytest

from .spec_harness import World

# ----------------------------------------------------------------------------- duplicate creation


def test_duplicate_creation_push_finds_the_remote_record_instead_of_creating(world: World) -> None:
    """Conflict 2 seen from the ERP side: the same e-mail was created in GestãoClick too; a
    push looks it up by unique keys first, links it and creates nothing."""
    remote = world.sandbox.panel_create("clientes", {"tipo_pessoa": "PF", "nome": "João S.", "email": "joao@email.com"})
    cid = world.local_create(nome="João Silva", email="joao@email.com")

    out = world.cli("push", "--loja", world.loja_id, "--entity", "cliente", "--id", cid, "--json")

    assert out.exit_code == 0, out.stdout + out.stderr
    result = out.json()
    assert result["external_id"] == remote["id"]
    assert result["operacao"] in ("link", "update", "skip")
    assert world.link_for_local(cid) == remote["id"]
    assert len(world.remote_all("clientes")) == 1


def test_duplicate_creation_by_cpf_on_pull(world: World) -> None:
    """Same CPF (formatted differently on each side) and no e-mail: linked, not duplicated."""
    cid = world.local_create(nome="Ana Souza", cpf="52998224725")
    remote = world.sandbox.panel_create("clientes", {"tipo_pessoa": "PF", "nome": "Ana Souza", "cpf": "529.982.247-25"})

    out = world.cli("pull", "--loja", world.loja_id, "--entity", "cliente", "--json")

    assert out.exit_code == 0, out.stdout + out.stderr
    assert out.json()["total_vinculados"] == 1
    assert world.link_for_external(remote["id"]) == cid
    assert len(world.local_clientes()) == 1


def _fuzzy_pair(world: World) -> tuple[int, str]:
    """A store name written two ways, no e-mail, no document: only a human can say."""
    cid = world.local_create(nome="Padaria Pão Quente Ltda", tipo_pessoa="PJ")
    remote = world.sandbox.panel_create("clientes", {"tipo_pessoa": "PJ", "nome": "Padaria Pao Quente"})
    out = world.cli("pull", "--loja", world.loja_id, "--entity", "cliente", "--json")
    assert out.exit_code == 0, out.stdout + out.stderr
    # A fuzzy match never links by itself: it is only a suggestion to review.
    assert world.link_for_local(cid) is None
    dups = [d for d in world.duplicates() if d.status == "pendente"]
    assert [(d.entity_id, d.external_id) for d in dups] == [(cid, remote["id"])]
    return cid, remote["id"]


def test_fuzzy_duplicate_is_suggested_then_linked_from_the_cli(world: World) -> None:
    cid, ext = _fuzzy_pair(world)
    listed = world.cli("duplicates", "list", "--loja", world.loja_id)
    assert listed.exit_code == 0 and "Padaria Pao Quente" in listed.stdout
    [dup] = world.duplicates()

    out = world.cli("duplicates", "resolve", dup.id, "--link", "--by", "ana")

    assert out.exit_code == 0, out.stdout + out.stderr
    assert world.link_for_external(ext) == cid
    assert world.local(cid)["deletado_em"] is None
    live = [c for c in world.local_clientes() if "Padaria" in c["nome"]]
    assert [c["id"] for c in live] == [cid], "linking leaves one live local record"
    assert len(world.remote_all("clientes")) == 1
    assert [d.status for d in world.duplicates()] == ["vinculado"]


def test_fuzzy_duplicate_dismissed_through_the_api(world: World) -> None:
    cid, ext = _fuzzy_pair(world)
    listed = world.api("GET", "/api/crm/duplicatas").json()
    [dup] = listed["items"]
    assert (dup["entity_id"], dup["external_id"]) == (cid, ext)

    resp = world.api("POST", f"/api/crm/duplicatas/{dup['id']}/resolver", json={"acao": "descartar"})

    assert resp.status_code == 200, resp.text
    assert world.link_for_local(cid) is None
    assert world.api("GET", "/api/crm/duplicatas").json()["total"] == 0
    assert world.api("POST", f"/api/crm/duplicatas/{dup['id']}/resolver", json={"acao": "vincular"}).status_code == 409
    # Dismissed means dismissed: the next pull does not suggest the same pair again.
    world.cli("pull", "--loja", world.loja_id, "--entity", "cliente", "--full")
    assert world.api("GET", "/api/crm/duplicatas").json()["total"] == 0


# ----------------------------------------------------------------------------- deletion


def _linked_population(world: World, n: int = 6) -> list[tuple[int, str]]:
    """n linked clientes, pushed in one bulk run (so one delete stays under the mass-delete
    guard's share)."""
    ids = [world.local_create(nome=f"Cliente {i}", email=f"cliente{i}@email.com") for i in range(n)]
    out = world.cli("push", "--loja", world.loja_id, "--entity", "cliente", "--json")
    assert out.exit_code == 0, out.stdout + out.stderr
    assert out.json()["sucessos"] == n
    pairs = [(cid, world.link_for_local(cid)) for cid in ids]
    assert all(ext for _, ext in pairs)
    return [(cid, str(ext)) for cid, ext in pairs]


@pytest.mark.parametrize("policy", ["delete", "deactivate", "ignore", "conflict"])
def test_local_soft_delete_follows_the_remote_delete_policy(world: World, policy: str) -> None:
    """Conflict 3: deleted in the ERP (soft delete), still in GestãoClick."""
    world.set_config({"entidades": {"cliente": {"delete_remoto": policy}}})
    (cid, ext), *_ = _linked_population(world)
    world.local_delete(cid)

    out = world.cli("sync", "--loja", world.loja_id, "--entity", "cliente", "--json")

    assert out.exit_code == 0, out.stdout + out.stderr
    remote = world.remote_get("clientes", ext)
    pending = world.pending_conflicts()
    if policy == "delete":
        assert remote is None
    elif policy == "deactivate":
        assert remote is not None and str(remote["ativo"]) == "0"
    else:
        assert remote is not None and str(remote["ativo"]) == "1"
    if policy == "conflict":
        assert [c["entity_id"] for c in pending] == [cid]
    else:
        assert pending == []
    assert world.local(cid)["deletado_em"] is not None  # the ERP's delete itself stands
    assert len(world.remote_all("clientes")) == (5 if policy == "delete" else 6)


@pytest.mark.parametrize("policy", ["soft_delete", "ignore", "conflict"])
def test_remote_delete_follows_the_local_delete_policy(world: World, policy: str) -> None:
    """Deleted in GestãoClick, still in the ERP; seen by a full listing."""
    world.set_config({"entidades": {"cliente": {"delete_local": policy}}})
    (cid, ext), *_ = _linked_population(world)
    world.sandbox.panel_delete("clientes", ext)

    out = world.cli("pull", "--loja", world.loja_id, "--entity", "cliente", "--full", "--json")

    assert out.exit_code == 0, out.stdout + out.stderr
    local = world.local(cid)
    pending = world.pending_conflicts()
    if policy == "soft_delete":
        assert local["deletado_em"] is not None
        assert out.json()["total_excluidos"] == 1
    else:
        assert local["deletado_em"] is None
    if policy == "conflict":
        assert [c["entity_id"] for c in pending] == [cid]
    else:
        assert pending == []
    assert len(world.local_clientes()) == (5 if policy == "soft_delete" else 6)


def test_mass_remote_delete_stops_before_deleting(world: World) -> None:
    """Every record gone from a listing at once looks like an outage or a wrong account, not
    a decision: the run stops before deleting and says why."""
    pairs = _linked_population(world)
    for _, ext in pairs:
        world.sandbox.panel_delete("clientes", ext)

    out = world.cli("pull", "--loja", world.loja_id, "--entity", "cliente", "--full", "--json")

    assert out.exit_code == 1, out.stdout + out.stderr
    assert len(world.local_clientes()) == len(pairs)
