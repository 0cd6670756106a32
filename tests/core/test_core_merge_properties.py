"""Properties of the three-way merge that must hold for *any* records, policies and clocks.

Each property is a promise the engine and the users rely on (ARCHITECTURE.md principles 2-4):
one-sided edits are never lost, syncing twice changes nothing, both sides end equal unless
a human has to decide, manual strategies never drop an edit silently, repeated edits and
syncs converge, and a field a provider lacks is never erased.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from crmsync.merge import (
    MERGE_RULES,
    STRATEGIES,
    FieldPolicy,
    MergeContext,
    MergeResult,
    is_empty,
    resolve_with,
    text_similarity,
    three_way_merge,
    values_equal,
)

FIELDS = ("nome", "email", "telefone", "ativo", "observacoes", "contatos")
STRING_POOL = (
    None,
    "",
    "João Silva",
    "João Silva Santos",
    "J. Silva",
    "joao silva",
    "Maria",
    "maria@x.com",
    "+5511999990000",
    "60.0000",
    "x",
)
CONTACTS = (
    {"nome": "Ana", "telefone": "+5511911110000"},
    {"nome": "Bia"},
    {"nome": "Bia", "email": None},  # same as {"nome": "Bia"} once normalised
    {"nome": "Caio", "email": "caio@x.com"},
)

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def values_for(field: str) -> st.SearchStrategy[Any]:
    if field == "ativo":
        return st.sampled_from([True, False, None])
    if field == "contatos":
        return st.one_of(st.none(), st.lists(st.sampled_from(CONTACTS), max_size=3))
    return st.sampled_from(STRING_POOL)


policies = st.one_of(
    st.sampled_from(STRATEGIES).filter(lambda s: s != "merge").map(lambda s: FieldPolicy(strategy=s)),
    st.builds(FieldPolicy, strategy=st.just("merge"), rule=st.sampled_from((None, *MERGE_RULES))),
    st.builds(
        FieldPolicy,
        strategy=st.just("manual_if_different"),
        threshold=st.sampled_from((None, 0.0, 0.3, 0.5, 0.85, 1.0)),
    ),
)
policy_maps = st.fixed_dictionaries({f: policies for f in FIELDS})

T0 = datetime(2025, 1, 14, 10, 30, tzinfo=UTC)
times = st.one_of(st.none(), st.integers(-900, 900).map(lambda s: T0 + timedelta(seconds=s)))


def contexts(directions: tuple[str, ...] = ("both", "push", "pull")) -> st.SearchStrategy[MergeContext]:
    return st.builds(
        MergeContext,
        local_modified_at=times,
        external_modified_at=times,
        skew_tolerance=st.sampled_from((timedelta(0), timedelta(seconds=120), timedelta(minutes=10))),
        direction=st.sampled_from(directions),
    )


# Which side has each field: a provider that lacks a field lacks it in every record.
layouts = st.fixed_dictionaries(
    {f: st.sampled_from(("both", "both", "both", "local_only", "external_only")) for f in FIELDS}
)


@st.composite
def scenarios(draw: st.DrawFn, with_base: bool | None = None) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """(base, local, external): arbitrary values, each side holding only its own fields."""
    layout = draw(layouts)
    local = {f: draw(values_for(f)) for f in FIELDS if layout[f] != "external_only"}
    external = {f: draw(values_for(f)) for f in FIELDS if layout[f] != "local_only"}
    has_base = draw(st.booleans()) if with_base is None else with_base
    base = None
    if has_base:
        # Some base values may be missing (a field added to the mapping after the link).
        base = {f: draw(values_for(f)) for f in FIELDS if draw(st.integers(0, 5))}
    return base, local, external


def policy_fn(mapping: dict[str, FieldPolicy]) -> Callable[[str], FieldPolicy]:
    return mapping.__getitem__


def apply(result: MergeResult, local: dict[str, Any], external: dict[str, Any]) -> tuple[dict, dict]:
    """What the engine does after a merge: write each side's changes."""
    return {**local, **result.to_local}, {**external, **result.to_external}


def synced(values: dict[str, Any], layout: dict[str, str]) -> tuple[dict, dict, dict]:
    """A record at rest after a sync: both sides and the base hold the same values."""
    local = {f: v for f, v in values.items() if layout[f] != "external_only"}
    external = {f: v for f, v in values.items() if layout[f] != "local_only"}
    return dict(values), local, external


class Case(NamedTuple):
    """One merge to check: arbitrary sides, policies and clock (see `scenarios`)."""

    base: dict[str, Any] | None
    local: dict[str, Any]
    external: dict[str, Any]
    pols: dict[str, FieldPolicy]
    ctx: MergeContext

    def merge(self) -> MergeResult:
        return three_way_merge(self.base, self.local, self.external, policy_fn(self.pols), self.ctx)


@st.composite
def cases(
    draw: st.DrawFn, directions: tuple[str, ...] = ("both", "push", "pull"), with_base: bool | None = None
) -> Case:
    base, local, external = draw(scenarios(with_base=with_base))
    return Case(base, local, external, draw(policy_maps), draw(contexts(directions)))


# ----------------------------------------------------------------------------------------- (1)


@SETTINGS
@given(
    layout=layouts,
    data=st.data(),
    pols=policy_maps,
    ctx=contexts(("both",)),
    edited_side=st.sampled_from(("local", "external")),
)
def test_one_sided_edit_always_reaches_the_other_side(
    layout: dict[str, str],
    data: st.DataObject,
    pols: dict[str, FieldPolicy],
    ctx: MergeContext,
    edited_side: str,
) -> None:
    values = {f: data.draw(values_for(f)) for f in FIELDS}
    base, local, external = synced(values, layout)
    shared = [f for f in FIELDS if layout[f] == "both"]
    assume(shared)
    edited = data.draw(st.lists(st.sampled_from(shared), min_size=1, unique=True))
    side = local if edited_side == "local" else external
    for f in edited:
        new = data.draw(values_for(f).filter(lambda v, f=f: not values_equal(v, base[f])))
        side[f] = new

    result = three_way_merge(base, local, external, policy_fn(pols), ctx)

    target = result.to_external if edited_side == "local" else result.to_local
    untouched = result.to_local if edited_side == "local" else result.to_external
    assert not result.conflicts
    assert not untouched
    assert set(target) == set(edited)
    for f in edited:
        assert target[f] == side[f]
        assert values_equal(result.new_base[f], side[f])


@SETTINGS
@given(layout=layouts, data=st.data(), pols=policy_maps, ctx=contexts(("both",)))
def test_edits_on_different_fields_of_each_side_all_flow(
    layout: dict[str, str], data: st.DataObject, pols: dict[str, FieldPolicy], ctx: MergeContext
) -> None:
    values = {f: data.draw(values_for(f)) for f in FIELDS}
    base, local, external = synced(values, layout)
    shared = [f for f in FIELDS if layout[f] == "both"]
    assume(len(shared) >= 2)
    split = data.draw(st.integers(1, len(shared) - 1))
    local_fields, external_fields = shared[:split], shared[split:]
    for side, fields in ((local, local_fields), (external, external_fields)):
        for f in fields:
            side[f] = data.draw(values_for(f).filter(lambda v, f=f: not values_equal(v, base[f])))

    result = three_way_merge(base, local, external, policy_fn(pols), ctx)

    assert not result.conflicts
    assert result.to_external == {f: local[f] for f in local_fields}
    assert result.to_local == {f: external[f] for f in external_fields}


# ----------------------------------------------------------------------------------------- (2)


@SETTINGS
@given(case=cases())
def test_merging_again_after_applying_changes_nothing(case: Case) -> None:
    _, local, external, pols, ctx = case
    first = case.merge()
    local2, external2 = apply(first, local, external)

    second = three_way_merge(first.new_base, local2, external2, policy_fn(pols), ctx)

    assert second.to_local == {}
    assert second.to_external == {}
    assert not second.changed
    assert second.conflicts == first.conflicts
    assert set(second.new_base) == set(first.new_base)
    for f, v in first.new_base.items():
        assert values_equal(second.new_base[f], v), f


# ----------------------------------------------------------------------------------------- (3)


@SETTINGS
@given(case=cases(("both",)))
def test_after_applying_both_sides_agree_unless_a_conflict_is_pending(case: Case) -> None:
    local, external = case.local, case.external
    result = case.merge()
    local2, external2 = apply(result, local, external)

    for f in set(local2) & set(external2):
        if f in result.conflicts:
            continue
        assert values_equal(local2[f], external2[f]), f
        assert values_equal(result.new_base[f], local2[f]), f


@SETTINGS
@given(case=cases())
def test_a_conflicting_field_is_written_nowhere_and_keeps_its_base(case: Case) -> None:
    base, local, external = case[:3]
    result = case.merge()

    for f, conflict in result.conflicts.items():
        assert f not in result.to_local and f not in result.to_external
        assert (conflict.local, conflict.external) == (local[f], external[f])
        if base is not None and f in base:
            assert result.new_base[f] == base[f] == conflict.base
        else:
            assert f not in result.new_base and conflict.base is None
        assert (f, "conflict", conflict.reason) in result.decisions


@SETTINGS
@given(case=cases(("push", "pull")))
def test_a_one_way_integration_never_writes_to_the_side_it_reads_from(case: Case) -> None:
    result = case.merge()

    if case.ctx.direction == "pull":
        assert result.to_external == {}
    else:
        assert result.to_local == {}


@SETTINGS
@given(case=cases())
def test_decisions_describe_every_write(case: Case) -> None:
    result = case.merge()

    written = {(f, "to_local") for f in result.to_local} | {(f, "to_external") for f in result.to_external}
    logged = {(f, action) for f, action, _ in result.decisions if action in ("to_local", "to_external")}
    assert written == logged
    assert all(reason for _, _, reason in result.decisions)


# ----------------------------------------------------------------------------------------- (4)


@SETTINGS
@given(
    data=st.data(),
    ctx=contexts(),
    policy=st.sampled_from(
        (
            FieldPolicy("manual"),
            FieldPolicy("manual_if_different"),
            FieldPolicy("manual_if_different", threshold=0.85),
            FieldPolicy("manual_if_different", threshold=1.0),
        )
    ),
)
def test_manual_strategies_never_discard_a_real_edit_silently(
    data: st.DataObject, ctx: MergeContext, policy: FieldPolicy
) -> None:
    f = data.draw(st.sampled_from(FIELDS))
    base = {f: data.draw(values_for(f))}
    lv = data.draw(values_for(f).filter(lambda v: not values_equal(v, base[f])))
    ev = data.draw(values_for(f).filter(lambda v: not values_equal(v, base[f]) and not values_equal(v, lv)))

    result = three_way_merge(base, {f: lv}, {f: ev}, lambda _: policy, ctx)

    if policy.strategy == "manual":
        assert f in result.conflicts
    elif f not in result.conflicts:
        # Only a near-identical variant may be replaced automatically (that is the point of
        # the threshold); anything more different goes to review.
        threshold = 0.5 if policy.threshold is None else policy.threshold
        assert text_similarity(lv, ev) >= threshold


@SETTINGS
@given(data=st.data(), ctx=contexts(("both",)))
def test_union_keeps_every_item_of_both_sides(data: st.DataObject, ctx: MergeContext) -> None:
    lists = st.lists(st.sampled_from(CONTACTS), max_size=4)
    base = {"contatos": data.draw(lists)}
    lv = data.draw(lists.filter(lambda v: not values_equal(v, base["contatos"])))
    ev = data.draw(lists.filter(lambda v: not values_equal(v, base["contatos"]) and not values_equal(v, lv)))

    result = three_way_merge(base, {"contatos": lv}, {"contatos": ev}, lambda _: FieldPolicy("merge", "union"), ctx)
    local2, external2 = apply(result, {"contatos": lv}, {"contatos": ev})

    assert not result.conflicts
    for final in (local2["contatos"], external2["contatos"]):
        for item in [*lv, *ev]:
            assert any(values_equal(item, kept) for kept in final)
        for i, a in enumerate(final):  # no duplicates by content
            assert not any(values_equal(a, b) for b in final[i + 1 :])


# ----------------------------------------------------------------------------------------- (5)


@st.composite
def histories(draw: st.DrawFn) -> tuple[dict, dict[str, FieldPolicy], list[tuple]]:
    layout = draw(layouts)
    pols = draw(policy_maps)
    steps = draw(
        st.lists(
            st.one_of(
                st.tuples(st.just("edit"), st.sampled_from(("local", "external")), st.sampled_from(FIELDS)),
                st.tuples(st.just("sync"), contexts(("both", "both", "push", "pull"))),
                st.tuples(st.just("resolve"), st.sampled_from(("local", "external"))),
            ),
            max_size=25,
        )
    )
    return layout, pols, steps


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=histories(), data=st.data())
def test_random_edits_and_syncs_converge(history: tuple, data: st.DataObject) -> None:
    """Edits on either side, syncs in any direction and manual resolutions, in any order,
    end, after a final sync and resolution, with both sides equal and nothing more to do;
    and a one-sided edit made since the last two-way sync is what both sides end with."""
    layout, pols, steps = history
    initial = {f: data.draw(values_for(f)) for f in FIELDS}
    base: dict[str, Any] | None = None
    _, local, external = synced(initial, layout)
    pending: dict[str, Any] = {}

    def sync(ctx: MergeContext) -> MergeResult:
        nonlocal base, local, external
        result = three_way_merge(base, local, external, policy_fn(pols), ctx)
        local, external = apply(result, local, external)
        base = result.new_base
        return result

    def resolve(choice: str) -> None:
        nonlocal base, local, external
        for f, conflict in pending.items():
            value = resolve_with(conflict, choice)
            local, external = {**local, f: value}, {**external, f: value}
            base = {**(base or {}), f: value}

    for step in steps:
        if step[0] == "edit":
            _, side, f = step
            target = local if side == "local" else external
            if f in target:
                target[f] = data.draw(values_for(f))
        elif step[0] == "sync":
            pending = dict(sync(step[1]).conflicts)
        else:
            resolve(step[1])
            pending = {}

    final_ctx = MergeContext(T0, T0 + timedelta(hours=1))
    pending = dict(sync(final_ctx).conflicts)
    resolve(data.draw(st.sampled_from(("local", "external"))))
    last = sync(final_ctx)

    assert not last.changed and not last.conflicts
    for f in set(local) & set(external):
        assert values_equal(local[f], external[f]), f
    again = three_way_merge(base, local, external, policy_fn(pols), final_ctx)
    assert not again.changed and not again.conflicts


@settings(max_examples=200, deadline=None)
@given(
    layout=layouts,
    data=st.data(),
    pols=policy_maps,
    edits=st.lists(st.tuples(st.sampled_from(("local", "external")), st.sampled_from(FIELDS)), max_size=12),
)
def test_the_latest_one_sided_edits_win_after_a_two_way_sync(
    layout: dict[str, str], data: st.DataObject, pols: dict[str, FieldPolicy], edits: list[tuple[str, str]]
) -> None:
    """Between two syncs, edits to each field on one side only: the last value written on
    that side is what both sides hold afterwards, whatever the strategies."""
    values = {f: data.draw(values_for(f)) for f in FIELDS}
    base, local, external = synced(values, layout)
    owner: dict[str, str] = {}
    for side, f in edits:
        if layout[f] != "both" or owner.setdefault(f, side) != side:
            continue  # one side only per field; both-sided edits are the conflict tests' job
        (local if side == "local" else external)[f] = data.draw(values_for(f))

    result = three_way_merge(base, local, external, policy_fn(pols), MergeContext())
    local2, external2 = apply(result, local, external)

    assert not result.conflicts
    for f, side in owner.items():
        expected = (local if side == "local" else external)[f]
        assert values_equal(local2[f], expected) and values_equal(external2[f], expected)


# ----------------------------------------------------------------------------------------- (6)


@SETTINGS
@given(case=cases())
def test_a_field_one_side_lacks_never_flows_to_it_nor_is_erased(case: Case) -> None:
    local, external = case.local, case.external
    result = case.merge()

    assert set(result.to_local) <= set(local) & set(external)
    assert set(result.to_external) <= set(local) & set(external)
    local2, external2 = apply(result, local, external)
    for f in set(local) ^ set(external):
        present = local2 if f in local else external2
        original = local if f in local else external
        assert present[f] == original[f]
        assert result.new_base[f] == original[f]


@SETTINGS
@given(case=cases(with_base=False))
def test_linking_never_replaces_a_value_with_an_empty_one(case: Case) -> None:
    _, local, external = case[:3]
    result = case.merge()  # no base: the first sync that links the two records

    for f, v in result.to_local.items():
        assert not (is_empty(v) and not is_empty(local[f])), f
    for f, v in result.to_external.items():
        assert not (is_empty(v) and not is_empty(external[f])), f


@SETTINGS
@given(case=cases())
def test_merge_does_not_mutate_its_inputs(case: Case) -> None:
    base, local, external = case[:3]
    snapshot = repr((base, local, external))
    case.merge()
    assert repr((base, local, external)) == snapshot
