"""A first attach shows its work (#18 item 2): the progress bar, and the JSON events of
`--json`, carry the listing's pages and how many rows were linked and created, so a person
watching a 50,000-customer attach sees it list once, then link and create."""

from __future__ import annotations

import json

import pytest

from crmsync.engine.attach import ATTACH_INDEX_MIN_ROWS

from .spec_harness import World

ROWS = ATTACH_INDEX_MIN_ROWS + 10
IN_CRM = 12


def _wide_bar(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bar's columns in full, not cut to 80: the console's own width, whatever the
    terminal (or its absence, or the COLUMNS it was made with) says."""
    from crmsync.cli.common import err_console

    monkeypatch.setattr(err_console, "_width", 200)


def _store_and_crm(world: World) -> None:
    for i in range(ROWS):
        world.local_create(nome=f"Cliente {i}", email=f"c{i}@email.com")
    world.sandbox.store.bulk_create(
        "clientes", [{"tipo_pessoa": "PF", "nome": f"Cliente {i}", "email": f"c{i}@email.com"} for i in range(IN_CRM)]
    )


def test_first_attach_json_events_carry_pages_matches_and_creates(world: World) -> None:
    _store_and_crm(world)

    out = world.cli("push", "--loja", world.loja_id, "--entity", "cliente", "--json")

    assert out.exit_code == 0, out.stdout + out.stderr
    events = [json.loads(ln) for ln in out.stderr.splitlines() if ln.startswith("{")]
    events = [e for e in events if e.get("evento") == "progresso"]
    listing = [e for e in events if "listed" in e]
    assert listing and listing[-1]["pages"] >= 1 and listing[-1]["listed"] == IN_CRM, events[:3]
    attach = [e for e in events if "matches" in e]
    assert attach, events
    last = attach[-1]
    assert (last["matches"], last["creates"], last["records"]) == (IN_CRM, ROWS - IN_CRM, ROWS), last
    assert last["pages"] == listing[-1]["pages"]
    assert len(world.remote_all("clientes")) == ROWS and world.count_links() == ROWS


def test_first_attach_progress_bar_shows_matches_and_creates(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    _wide_bar(monkeypatch)
    _store_and_crm(world)

    out = world.cli("push", "--loja", world.loja_id, "--entity", "cliente")

    assert out.exit_code == 0, out.stdout + out.stderr
    # the Rich bar's last frame (on stderr): listing pages, then linked and created rows
    assert f"{IN_CRM} vinculados, {ROWS - IN_CRM} criados" in out.stderr, out.stderr[-2000:]
    assert "1 páginas" in out.stderr


def test_a_pull_meeting_unlinked_records_shows_its_matches_and_creates(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The local side: a pull that meets CRM records with no link shows how many it linked
    to the store's own rows and how many it created, in the JSON events and on the bar."""
    _wide_bar(monkeypatch)
    for i in range(IN_CRM):
        world.local_create(nome=f"Cliente {i}", email=f"c{i}@email.com")
    world.sandbox.store.bulk_create(
        "clientes", [{"tipo_pessoa": "PF", "nome": f"Cliente {i}", "email": f"c{i}@email.com"} for i in range(ROWS)]
    )

    out = world.cli("pull", "--loja", world.loja_id, "--entity", "cliente", "--json")

    assert out.exit_code == 0, out.stdout + out.stderr
    events = [json.loads(ln) for ln in out.stderr.splitlines() if ln.startswith("{")]
    last = [e for e in events if e.get("evento") == "progresso"][-1]
    assert (last["matches"], last["creates"], last["records"]) == (IN_CRM, ROWS - IN_CRM, ROWS), last
    assert world.count_links() == ROWS and len(world.local_clientes()) == ROWS

    world.sandbox.store.bulk_create("clientes", [{"tipo_pessoa": "PF", "nome": "Mais um", "email": "mais@email.com"}])
    human = world.cli("pull", "--loja", world.loja_id, "--entity", "cliente", "--full")
    assert human.exit_code == 0, human.stdout + human.stderr
    assert "0 vinculados, 1 criados" in human.stderr, human.stderr[-2000:]
