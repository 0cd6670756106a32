"""Section 5.2's hybrid strategy, loaded from `crmsync/examples/spec-config.yaml` as written:
email -> the ERP (Ecletech) wins, telefone -> whichever is not empty, nome -> manual when
less than 50% similar, produtos -> GestãoClick wins and the ERP never sends them."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from .spec_harness import SPEC_CONFIG, World, minutes_ago


def _digits(value: object) -> str:
    return re.sub(r"\D", "", str(value or ""))


@pytest.fixture
def hybrid(world: World) -> World:
    world.set_config(SPEC_CONFIG)
    return world


def test_hybrid_email_local_wins_telefone_non_empty_nome_to_review(hybrid: World) -> None:
    """All three fields edited on both sides; GestãoClick's edits are the newer ones, so
    last_write_wins alone would take all of them."""
    w = hybrid
    cid, ext = w.linked_cliente(nome="João Silva", email="joao@email.com", telefone="1133334444")
    w.local_update(cid, nome="João Silva Santos", email="joao.santos@ecletech.com", telefone=None, at=minutes_ago(10))
    w.sandbox.panel_update(
        "clientes", ext, {"nome": "J. Silva", "email": "js@outro.com", "telefone": "(11) 98888-7777"}
    )

    out = w.cli("sync", "--loja", w.loja_id, "--entity", "cliente", "--json")

    assert out.exit_code == 0, out.stdout + out.stderr
    local, remote = w.local(cid), w.remote_get("clientes", ext)
    assert remote is not None
    # email: ecletech_wins, although GestãoClick's edit is newer.
    assert local["email"] == remote["email"] == "joao.santos@ecletech.com"
    # telefone: merge/usar_nao_vazio -> the one that is filled in.
    assert _digits(local["telefone"]).endswith("11988887777")
    assert _digits(remote["telefone"]).endswith("11988887777")
    # nome: manual_se_diferente 0.5 -> review, each side keeps its own value meanwhile.
    [conflict] = w.pending_conflicts()
    assert set(conflict["campos"]) == {"nome"}
    assert local["nome"] == "João Silva Santos" and remote["nome"] == "J. Silva"


def test_hybrid_telefone_cleared_remotely_keeps_the_local_number(hybrid: World) -> None:
    w = hybrid
    cid, ext = w.linked_cliente(nome="Maria Santos", email="maria@email.com", telefone="1133334444")
    w.local_update(cid, telefone="11977776666", at=minutes_ago(10))
    w.sandbox.panel_update("clientes", ext, {"telefone": ""})

    assert w.cli("sync", "--loja", w.loja_id, "--entity", "cliente").exit_code == 0

    assert _digits(w.local(cid)["telefone"]).endswith("11977776666")
    assert _digits(w.remote_get("clientes", ext)["telefone"]).endswith("11977776666")  # type: ignore[index]


def test_hybrid_close_names_settle_by_last_write(hybrid: World) -> None:
    """Below the manual threshold's reach: "Maria Santos" vs "Maria dos Santos" are >50%
    similar, so the newer edit (GestãoClick's) wins without review."""
    w = hybrid
    cid, ext = w.linked_cliente(nome="Maria Santos", email="maria@email.com")
    w.local_update(cid, nome="Maria S. Santos", at=minutes_ago(10))
    w.sandbox.panel_update("clientes", ext, {"nome": "Maria dos Santos"})

    assert w.cli("sync", "--loja", w.loja_id, "--entity", "cliente").exit_code == 0

    assert w.local(cid)["nome"] == "Maria dos Santos"
    assert w.remote_get("clientes", ext)["nome"] == "Maria dos Santos"  # type: ignore[index]
    assert w.pending_conflicts() == []


def test_hybrid_produtos_are_read_only(hybrid: World) -> None:
    """produtos: crm_wins + read_only -> imported and kept up to date from GestãoClick; a
    local edit is never sent, and an explicit push is refused."""
    w = hybrid
    remote = w.sandbox.panel_create(
        "produtos", {"nome": "Café 500g", "codigo_interno": "CAF500", "valor_custo": "10.00", "valor_venda": "18.90"}
    )
    assert w.cli("pull", "--loja", w.loja_id, "--entity", "produto").exit_code == 0
    pid = w.link_for_external(remote["id"], "produto")
    assert pid is not None
    assert w.local_produto(pid)["nome"] == "Café 500g"

    resp = w.api("PUT", f"/api/produtos/{pid}", json={"nome": "Café Especial 500g"})
    assert resp.status_code == 200, resp.text
    refused = w.cli("push", "--loja", w.loja_id, "--entity", "produto", "--id", pid)
    assert refused.exit_code == 2 and "somente leitura" in refused.stderr
    assert w.api("POST", f"/api/crm/sync/produto/{pid}").status_code == 409

    assert w.cli("sync", "--loja", w.loja_id).exit_code == 0
    assert w.remote_get("produtos", remote["id"])["nome"] == "Café 500g"  # type: ignore[index]

    w.sandbox.panel_update("produtos", remote["id"], {"nome": "Café Tradicional 500g", "valor_venda": "19.90"})
    assert w.cli("sync", "--loja", w.loja_id).exit_code == 0
    local = w.local_produto(pid)
    assert local["nome"] == "Café Tradicional 500g"
    assert Decimal(str(local["valor_venda"])) == Decimal("19.90")
    assert len(w.remote_all("produtos")) == 1
