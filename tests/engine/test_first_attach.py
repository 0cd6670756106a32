"""First attach by index (#18 item 2): a push that meets many unlinked rows lists the CRM once
and links or creates each row with no look-up of its own; a listing that fails half-way
decides nothing from a partial index."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from engine_world import World
from sqlalchemy import event, select

from crmsync.db.local import Cliente
from crmsync.db.sync import CrmConflito, CrmEntityLink
from crmsync.engine.attach import ATTACH_INDEX_MIN_ROWS, RemoteIndex, decide
from crmsync.providers.base import AuthError, RemoteRecord, RetriableError

ROWS = ATTACH_INDEX_MIN_ROWS + 10


def _both_sides(world: World, n: int, *, in_crm: range) -> list[int]:
    ids = []
    for i in range(n):
        fields = {"nome": f"Cliente {i}", "email": f"c{i}@x.com", "cidade": "Natal"}
        ids.append(world.add_cliente(**fields))
        if i in in_crm:
            world.provider.panel_create("cliente", {**fields, "tipo_pessoa": "PF"})
    world.provider.calls.clear()
    return ids


def _links(world: World) -> dict[int, str]:
    with world.sf() as s:
        return {link.entity_id: link.external_id for link in s.scalars(select(CrmEntityLink))}


def test_all_already_in_the_crm_costs_one_listing(world_factory: Callable[..., World]) -> None:
    world = world_factory(page_size=10)
    ids = _both_sides(world, ROWS, in_crm=range(ROWS))
    summary = world.engine().push("cliente")
    assert summary.success and summary.total == ROWS, summary.as_dict()
    assert {i.operacao for i in summary.itens} == {"link"}
    calls = world.provider.calls
    assert calls.get("list_page") == 3 and sum(calls.values()) == 3, calls  # 30 records, pages of 10
    assert sorted(_links(world)) == ids and len(world.provider.panel_list("cliente")) == ROWS
    with world.sf() as s:
        assert not list(s.scalars(select(CrmConflito)))


def test_half_there_links_half_and_creates_the_rest(world_factory: Callable[..., World]) -> None:
    world = world_factory(page_size=100)
    half = ROWS // 2
    _both_sides(world, ROWS, in_crm=range(half))
    summary = world.engine().push("cliente")
    assert summary.success, summary.as_dict()
    ops = [i.operacao for i in summary.itens]
    assert ops.count("link") == half and ops.count("create") == ROWS - half
    calls = world.provider.calls
    assert calls == {"list_page": 1, "create": ROWS - half}, calls
    assert len(world.provider.panel_list("cliente")) == ROWS and len(_links(world)) == ROWS


def test_dry_run_lists_once_and_writes_nothing(world_factory: Callable[..., World]) -> None:
    world = world_factory(page_size=100)
    _both_sides(world, ROWS, in_crm=range(5))
    summary = world.engine(dry_run=True).push("cliente")
    assert summary.success
    assert world.provider.calls == {"list_page": 1}, world.provider.calls
    plan = sorted(p["operacao"] for p in [e for i in summary.itens for e in i.planned] if p["lado"] != "local")
    assert plan.count("create") == ROWS - 5 and plan.count("link") == 5
    assert not _links(world)


def test_a_key_of_a_record_linked_elsewhere_never_makes_a_second_record(world: World) -> None:
    first = world.add_cliente(nome="Primeira", email="mesmo@x.com")
    assert world.engine().push("cliente").success
    world.edit(Cliente, first, email="outro@x.com")  # the store moves the e-mail to a new row
    for i in range(ROWS):
        world.add_cliente(nome=f"Nova {i}", email="mesmo@x.com" if i == 0 else f"n{i}@x.com")
    world.engine().push("cliente")
    world.engine().push("cliente")
    emails = [r.get("email") for r in world.provider.panel_list("cliente").values()]
    assert len(emails) == len(set(emails)), emails


def test_a_listing_that_fails_half_way_decides_nothing_from_it(world_factory: Callable[..., World]) -> None:
    world = world_factory(page_size=10)
    _both_sides(world, ROWS, in_crm=range(ROWS - 5))
    world.provider.fail_next(1, RetriableError, methods={"list_page"}, skip=1)  # the second page fails
    summary = world.engine().push("cliente")
    assert summary.success, summary.as_dict()
    calls = world.provider.calls
    assert calls.get("find_by_keys", 0) >= ROWS and calls.get("create") == 5, calls  # looked up one by one
    assert len(world.provider.panel_list("cliente")) == ROWS and len(_links(world)) == ROWS


def test_any_dry_run_lists_instead_of_looking_rows_up(world: World) -> None:
    _both_sides(world, 3, in_crm=range(1))
    summary = world.engine(dry_run=True).push("cliente")
    assert summary.success and world.provider.calls == {"list_page": 1}, world.provider.calls
    assert sorted(i.operacao for i in summary.itens) == ["create", "create", "link"]


def test_a_dry_run_against_a_failing_listing_stops_with_its_error(world_factory: Callable[..., World]) -> None:
    world = world_factory(page_size=10)
    _both_sides(world, ROWS, in_crm=range(ROWS - 5))
    world.provider.fail_next(1, RetriableError, methods={"list_page"}, skip=1)
    summary = world.engine(dry_run=True).push("cliente")
    assert not summary.success and summary.total == 1, summary.as_dict()
    assert "listagem do CRM falhou" in str(summary.itens[0].message)
    assert "find_by_keys" not in world.provider.calls and world.provider.write_calls == 0


def test_the_decide_step_is_pure_and_never_plans_two_records_for_one_key() -> None:
    index = RemoteIndex("cliente")
    index.add(RemoteRecord("r1", {"nome": "A", "email": "a@x.com"}))
    index.add(RemoteRecord("r2", {"nome": "B", "cpf": "52998224725"}))
    rows = [
        (1, {"email": "A@x.com "}),
        (2, {"cpf": "529.982.247-25", "email": "b@x.com"}),
        (3, {"email": "c@x.com"}),
        (4, {"email": "c@x.com"}),  # the same key as row 3 (an ERP's own table may allow it)
        (5, {"nome": "sem chave"}),
    ]
    got = [(d.entity_id, d.action, d.external_id) for d in decide(rows, index)]
    assert got == [
        (1, "link", "r1"),
        (2, "link", "r2"),
        (3, "create", None),
        (4, "duplicata", None),
        (5, "create", None),
    ]


def test_a_lost_create_answer_in_a_first_attach_then_a_local_edit_reaches_the_crm(
    world_factory: Callable[..., World],
) -> None:
    """A create of a first attach whose answer is lost, an edit in the store, then a push that
    lists the CRM again (more new rows arrived meanwhile): the listed record is recognised as
    ours by its intent, the edit reaches it, no conflict, one record."""
    world = world_factory(page_size=100)
    ids = _both_sides(world, ROWS, in_crm=range(5))
    world.provider.fail_next(1, RetriableError, methods={"create"}, after=True, skip=3)  # the 4th create
    first = world.engine().push("cliente")
    assert not first.success and first.erros == 1, first.as_dict()
    lost = next(i for i in ids if i not in _links(world))
    assert len(world.provider.panel_list("cliente")) == ROWS  # the CRM made it all the same
    world.edit(Cliente, lost, nome="Editado na loja")
    more = [world.add_cliente(nome=f"Nova {i}", email=f"nova{i}@x.com") for i in range(ATTACH_INDEX_MIN_ROWS)]
    world.provider.calls.clear()

    second = world.engine().push("cliente")
    assert second.success, second.as_dict()
    assert world.provider.calls.get("find_by_keys", 0) == 0, world.provider.calls  # decided from the listing
    records = world.provider.panel_list("cliente")
    assert len(records) == ROWS + len(more)
    links = _links(world)
    assert records[links[lost]]["nome"] == "Editado na loja"
    assert sum(1 for r in records.values() if r.get("email") == world.get(Cliente, lost).email) == 1
    with world.sf() as s:
        assert not list(s.scalars(select(CrmConflito))), "a false conflict"
    link = world.link_of("cliente", lost)
    assert link is not None and link.status == "sincronizado"


def test_a_pull_meeting_many_unlinked_records_matches_them_by_index(world_factory: Callable[..., World]) -> None:
    """The local side of a first attach: a pull that meets many CRM records the store already
    holds (no links yet) links each through one in-memory index of the store's keys, with no
    look-up of the store's table per record, and no request beyond the listing."""
    world = world_factory(page_size=10)
    ids = _both_sides(world, ROWS, in_crm=range(ROWS))
    engine_ = world.sf.kw["bind"]
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        statements.append(" ".join(statement.split()).lower())

    event.listen(engine_, "before_cursor_execute", seen)
    try:
        result = world.engine().pull("cliente")
    finally:
        event.remove(engine_, "before_cursor_execute", seen)
    assert result.success and result.total_vinculados == ROWS and result.total_criados == 0, result.as_dict()
    assert sorted(_links(world)) == ids
    assert set(world.provider.calls) <= {"list_page", "list_changed_since"}, world.provider.calls
    by_key = [
        st
        for st in statements
        if st.startswith("select") and " from clientes" in st and re.search(r"where .*(email|cpf|cnpj)\b", st)
    ]
    assert not by_key, by_key[:3]  # a look-up of the store per CRM record
    with world.sf() as s:
        assert not list(s.scalars(select(CrmConflito)))


def test_refused_credentials_half_way_through_the_listing_stop_the_push(world_factory: Callable[..., World]) -> None:
    """Credentials refused on the listing's second page: the push stops with the listing's
    error; nothing is created or linked from the first page, and no row is looked up."""
    world = world_factory(page_size=10)
    _both_sides(world, ROWS, in_crm=range(ROWS - 5))
    world.provider.fail_next(1, AuthError, methods={"list_page"}, skip=1)
    summary = world.engine().push("cliente")
    assert not summary.success and summary.total == 1, summary.as_dict()
    assert "listagem do CRM falhou" in str(summary.itens[0].message)
    assert world.provider.write_calls == 0 and "find_by_keys" not in world.provider.calls, world.provider.calls
    assert not _links(world) and len(world.provider.panel_list("cliente")) == ROWS - 5
