"""Worked examples of the merge: the spec's cases 7.3 and 7.4, every strategy and rule,
directions, absent fields and the small helpers the engine and the review screen use."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest

from crmsync.merge import (
    FieldConflict,
    FieldPolicy,
    MergeContext,
    resolve_with,
    text_similarity,
    three_way_merge,
    values_equal,
)

LOCAL_AT = datetime(2025, 1, 14, 10, 30, 2, tzinfo=UTC)  # Ecletech modificado_em (case 7.3)
EXTERNAL_AT = datetime(2025, 1, 14, 10, 35, 0, tzinfo=UTC)  # GestãoClick updated_at

BASE = {"nome": "João Silva", "telefone": "+5511911110000"}
LOCAL = {"nome": "João Silva Santos", "telefone": "+5511911110000"}
EXTERNAL = {"nome": "J. Silva", "telefone": "+5511922220000"}


def only(policy: FieldPolicy) -> Callable[[str], FieldPolicy]:
    return lambda _field: policy


# ------------------------------------------------------------------------- case 7.3


def test_case_7_3_last_write_wins_with_a_five_minute_gap_picks_the_newer_side() -> None:
    result = three_way_merge(BASE, LOCAL, EXTERNAL, only(FieldPolicy()), MergeContext(LOCAL_AT, EXTERNAL_AT))

    assert result.to_local == {"nome": "J. Silva", "telefone": "+5511922220000"}
    assert result.to_external == {}
    assert result.conflicts == {}
    assert result.new_base == {"nome": "J. Silva", "telefone": "+5511922220000"}
    assert ("nome", "to_local", "both changed; last write wins: external is newer") in result.decisions


def test_case_7_3_last_write_wins_when_local_is_newer_pushes_local() -> None:
    ctx = MergeContext(EXTERNAL_AT + timedelta(minutes=5), EXTERNAL_AT)
    result = three_way_merge(BASE, LOCAL, EXTERNAL, only(FieldPolicy()), ctx)

    assert result.to_external == {"nome": "João Silva Santos"}
    assert result.to_local == {"telefone": "+5511922220000"}


def test_case_7_3_edits_within_the_skew_tolerance_are_a_close_call_not_a_guess() -> None:
    ctx = MergeContext(LOCAL_AT, LOCAL_AT + timedelta(seconds=90), skew_tolerance=timedelta(seconds=120))
    result = three_way_merge(BASE, LOCAL, EXTERNAL, only(FieldPolicy()), ctx)

    assert set(result.conflicts) == {"nome"}
    conflict = result.conflicts["nome"]
    assert conflict == FieldConflict(
        "nome", "João Silva", "João Silva Santos", "J. Silva", "close call: edits within skew tolerance"
    )
    assert "nome" not in result.to_local and "nome" not in result.to_external
    assert result.new_base["nome"] == "João Silva"  # stays in conflict until resolved
    assert result.to_local == {"telefone": "+5511922220000"}  # the conflict blocks nothing else


def test_case_7_3_exactly_at_the_tolerance_is_still_a_close_call() -> None:
    ctx = MergeContext(LOCAL_AT, LOCAL_AT + timedelta(seconds=120))
    assert "nome" in three_way_merge(BASE, LOCAL, EXTERNAL, only(FieldPolicy()), ctx).conflicts


def test_case_7_3_an_unknown_modification_time_is_a_close_call() -> None:
    for ctx in (MergeContext(), MergeContext(LOCAL_AT, None), MergeContext(None, EXTERNAL_AT)):
        result = three_way_merge(BASE, LOCAL, EXTERNAL, only(FieldPolicy()), ctx)
        assert result.conflicts["nome"].reason == "close call: modification time unknown"


def test_case_7_3_manual_if_different_at_half_sends_the_name_to_review() -> None:
    policy = FieldPolicy("manual_if_different", threshold=0.5)
    result = three_way_merge(BASE, LOCAL, EXTERNAL, only(policy), MergeContext(LOCAL_AT, EXTERNAL_AT))

    assert set(result.conflicts) == {"nome"}
    assert result.conflicts["nome"].reason.startswith("values too different (similarity 0.41")
    assert "nome" not in result.to_local  # "João Silva Santos" is kept locally, not lost


def test_manual_if_different_lets_similar_values_fall_back_to_last_write_wins() -> None:
    base = {"nome": "João Silva"}
    local, external = {"nome": "João da Silva"}, {"nome": "JOAO  SILVA."}
    policy = FieldPolicy("manual_if_different", threshold=0.5)

    newer_external = three_way_merge(base, local, external, only(policy), MergeContext(LOCAL_AT, EXTERNAL_AT))
    close_call = three_way_merge(base, local, external, only(policy), MergeContext(LOCAL_AT, LOCAL_AT))

    assert newer_external.to_local == {"nome": "JOAO  SILVA."}
    assert close_call.conflicts["nome"].reason.startswith("close call")


def test_manual_if_different_without_threshold_uses_one_half() -> None:
    assert FieldPolicy("manual_if_different").threshold is None
    result = three_way_merge(
        BASE, LOCAL, EXTERNAL, only(FieldPolicy("manual_if_different")), MergeContext(LOCAL_AT, EXTERNAL_AT)
    )
    assert "nome" in result.conflicts


def test_text_similarity_ignores_case_accents_and_spacing() -> None:
    assert text_similarity("João  Silva", "joao silva") == 1.0
    assert text_similarity(None, "") == 1.0
    assert text_similarity("João Silva Santos", "J. Silva") == pytest.approx(7 / 17)
    assert text_similarity("abc", None) == 0.0


# ------------------------------------------------------------------------- strategies and rules


@pytest.mark.parametrize(
    ("policy", "to_local", "to_external"),
    [
        (FieldPolicy("local_wins"), {}, {"nome": "João Silva Santos"}),
        (FieldPolicy("external_wins"), {"nome": "J. Silva"}, {}),
        (FieldPolicy("merge", "non_empty"), {"nome": "J. Silva"}, {}),
        (FieldPolicy("merge"), {"nome": "J. Silva"}, {}),  # rule defaults to non_empty
        (FieldPolicy("merge", "longest"), {}, {"nome": "João Silva Santos"}),
    ],
)
def test_each_strategy_settles_a_both_sided_edit(
    policy: FieldPolicy, to_local: dict[str, str], to_external: dict[str, str]
) -> None:
    # Close timestamps: none of these strategies may consult the clock.
    result = three_way_merge(
        {"nome": "João Silva"},
        {"nome": "João Silva Santos"},
        {"nome": "J. Silva"},
        only(policy),
        MergeContext(LOCAL_AT, LOCAL_AT),
    )

    assert (result.to_local, result.to_external, result.conflicts) == (to_local, to_external, {})


def test_manual_always_goes_to_review_even_with_clear_timestamps() -> None:
    ctx = MergeContext(LOCAL_AT, EXTERNAL_AT)
    result = three_way_merge(BASE, LOCAL, EXTERNAL, only(FieldPolicy("manual")), ctx)
    assert result.conflicts["nome"].reason == "manual strategy"
    assert result.to_local == {"telefone": "+5511922220000"}


def test_non_empty_keeps_the_local_value_when_external_was_cleared() -> None:
    base, local, external = {"telefone": "+5511911110000"}, {"telefone": "+5511933330000"}, {"telefone": None}
    result = three_way_merge(base, local, external, only(FieldPolicy("merge", "non_empty")))
    assert result.to_external == {"telefone": "+5511933330000"}
    assert result.to_local == {}


def test_longest_with_equal_lengths_falls_back_to_last_write_wins() -> None:
    base, local, external = {"numero": "100"}, {"numero": "101"}, {"numero": "102"}
    policy = FieldPolicy("merge", "longest")

    decided = three_way_merge(base, local, external, only(policy), MergeContext(EXTERNAL_AT, LOCAL_AT))
    undecided = three_way_merge(base, local, external, only(policy), MergeContext(LOCAL_AT, LOCAL_AT))

    assert decided.to_external == {"numero": "101"}
    assert "numero" in undecided.conflicts


def test_union_merges_lists_local_order_first_without_duplicates_and_writes_both_sides() -> None:
    ana, bia, caio, davi = {"nome": "Ana"}, {"nome": "Bia"}, {"nome": "Caio"}, {"nome": "Davi"}
    base = {"contatos": [ana]}
    local = {"contatos": [bia, ana, caio]}
    external = {"contatos": [ana, {"nome": "Caio", "email": None}, davi]}

    result = three_way_merge(base, local, external, only(FieldPolicy("merge", "union")))

    merged = [bia, ana, caio, davi]
    assert result.to_local == {"contatos": merged}
    assert result.to_external == {"contatos": merged}
    assert result.new_base == {"contatos": merged}


def test_union_of_a_list_and_nothing_is_the_list() -> None:
    ana, bia = {"nome": "Ana"}, {"nome": "Bia"}
    base, local, external = {"contatos": [ana]}, {"contatos": None}, {"contatos": [bia]}
    result = three_way_merge(base, local, external, only(FieldPolicy("merge", "union")))
    assert result.to_local == {"contatos": [{"nome": "Bia"}]}
    assert result.to_external == {}


def test_union_on_a_text_field_goes_to_review_rather_than_guessing() -> None:
    result = three_way_merge(BASE, LOCAL, EXTERNAL, only(FieldPolicy("merge", "union")))
    assert result.conflicts["nome"].reason == "merge union needs lists"


def test_both_sides_changed_to_the_same_value_only_updates_the_base() -> None:
    result = three_way_merge(
        {"email": "a@x.com"}, {"email": "b@x.com"}, {"email": "b@x.com"}, only(FieldPolicy("manual"))
    )
    assert not result.changed and not result.conflicts
    assert result.new_base == {"email": "b@x.com"}


def test_timestamps_in_different_zones_are_compared_as_instants() -> None:
    sao_paulo = timezone(timedelta(hours=-3))
    # 10:30 in São Paulo is 13:30 UTC: later than 10:35 UTC, although the clock reads earlier.
    ctx = MergeContext(datetime(2025, 1, 14, 10, 30, tzinfo=sao_paulo), EXTERNAL_AT)
    result = three_way_merge(BASE, LOCAL, EXTERNAL, only(FieldPolicy()), ctx)
    assert result.to_external == {"nome": "João Silva Santos"}


# ------------------------------------------------------------------------- linking (no base), case 7.4


def test_case_7_4_linking_fills_empty_fields_from_either_side_and_settles_the_rest() -> None:
    local = {"email": "joao@email.com", "nome": "João Silva", "telefone": None, "cidade": "Campinas"}
    external = {"email": "joao@email.com", "nome": "João S.", "telefone": "+5511911110000", "cidade": None}

    result = three_way_merge(None, local, external, only(FieldPolicy()), MergeContext(LOCAL_AT, EXTERNAL_AT))

    assert result.to_local == {"telefone": "+5511911110000", "nome": "João S."}
    assert result.to_external == {"cidade": "Campinas"}
    assert result.new_base == {
        "email": "joao@email.com",
        "nome": "João S.",
        "telefone": "+5511911110000",
        "cidade": "Campinas",
    }


def test_linking_with_external_wins_still_never_erases_a_local_value() -> None:
    result = three_way_merge(
        None, {"rg": "12345", "nome": "A"}, {"rg": None, "nome": "B"}, only(FieldPolicy("external_wins"))
    )
    assert result.to_local == {"nome": "B"}
    assert result.to_external == {"rg": "12345"}


def test_linking_a_close_call_leaves_no_base_for_that_field() -> None:
    result = three_way_merge(None, {"nome": "A"}, {"nome": "B"}, only(FieldPolicy()))
    assert "nome" in result.conflicts and result.conflicts["nome"].base is None
    assert "nome" not in result.new_base


def test_a_field_missing_from_the_base_is_merged_like_a_new_link() -> None:
    result = three_way_merge(
        {"nome": "A"}, {"nome": "A", "cep": None}, {"nome": "A", "cep": "01001000"}, only(FieldPolicy("local_wins"))
    )
    assert result.to_local == {"cep": "01001000"}


# ------------------------------------------------------------------------- directions


def test_pull_keeps_a_local_only_change_and_leaves_it_pending_for_a_later_push() -> None:
    base = {"nome": "A", "cidade": "X"}
    local = {"nome": "A2", "cidade": "X"}
    external = {"nome": "A", "cidade": "Y"}

    result = three_way_merge(base, local, external, only(FieldPolicy()), MergeContext(direction="pull"))

    assert result.to_external == {}
    assert result.to_local == {"cidade": "Y"}
    assert result.new_base == {"nome": "A", "cidade": "Y"}  # "nome" still differs from base
    assert ("nome", "kept", "changed on local only; direction pull") in result.decisions
    later = three_way_merge(result.new_base, {**local, **result.to_local}, external, only(FieldPolicy()))
    assert later.to_external == {"nome": "A2"}


def test_pull_settles_both_sided_edits_for_external_but_manual_still_goes_to_review() -> None:
    pull = MergeContext(LOCAL_AT, LOCAL_AT, direction="pull")
    policies = {"nome": FieldPolicy("manual_if_different"), "telefone": FieldPolicy("local_wins")}
    base = {"nome": "João Silva", "telefone": "1", "email": "a@x"}
    local = {"nome": "João Silva Santos", "telefone": "2", "email": "b@x"}
    external = {"nome": "J. Silva", "telefone": "3", "email": "c@x"}

    result = three_way_merge(base, local, external, lambda f: policies.get(f, FieldPolicy("manual")), pull)

    assert result.to_local == {"telefone": "3"}
    assert set(result.conflicts) == {"nome", "email"}
    assert result.to_external == {}


def test_push_is_the_mirror_image_of_pull() -> None:
    base = {"nome": "A", "cidade": "X", "numero": "1"}
    local = {"nome": "A2", "cidade": "X", "numero": "2"}
    external = {"nome": "A", "cidade": "Y", "numero": "3"}

    result = three_way_merge(base, local, external, only(FieldPolicy("external_wins")), MergeContext(direction="push"))

    assert result.to_local == {}
    assert result.to_external == {"nome": "A2", "numero": "2"}
    assert result.new_base == {"nome": "A2", "cidade": "X", "numero": "2"}
    assert ("cidade", "kept", "changed on external only; direction push") in result.decisions


# ------------------------------------------------------------------------- absent fields, fields=


def test_a_field_the_provider_lacks_is_neither_sent_nor_erased_and_its_base_follows_the_local() -> None:
    base = {"nome": "A", "rg": "111"}
    local = {"nome": "A", "rg": "222"}
    external = {"nome": "A"}  # this provider has no rg

    result = three_way_merge(base, local, external, only(FieldPolicy("external_wins")))

    assert (result.to_local, result.to_external, result.conflicts) == ({}, {}, {})
    assert result.new_base == {"nome": "A", "rg": "222"}


def test_fields_limits_the_merge_and_carries_other_base_entries() -> None:
    base = {"nome": "A", "cidade": "X"}
    result = three_way_merge(
        base,
        {"nome": "B", "cidade": "Z"},
        {"nome": "A", "cidade": "X"},
        only(FieldPolicy()),
        fields=["nome", "ausente"],
    )
    assert result.to_external == {"nome": "B"}
    assert result.new_base == {"nome": "B", "cidade": "X"}


def test_unchanged_records_produce_nothing() -> None:
    result = three_way_merge(BASE, dict(BASE), dict(BASE), only(FieldPolicy("manual")))
    assert not result.changed and not result.conflicts and not result.decisions
    assert result.new_base == BASE


# ------------------------------------------------------------------------- helpers and validation


@pytest.mark.parametrize(
    ("a", "b", "equal"),
    [
        (None, "", True),
        (None, [], True),
        ("", [], True),
        ("a", "A", False),
        ([{"nome": "Ana"}, {"nome": "Bia"}], [{"nome": "Bia"}, {"nome": "Ana"}], True),
        ([{"nome": "Ana", "email": None}], [{"nome": "Ana"}], True),
        ([{"nome": "Ana"}], [{"nome": "Ana"}, {"nome": "Ana"}], False),
        (["a", "b"], ["b", "a"], False),  # order of plain lists may mean something
        (True, 1, False),
        (False, None, False),
        ("60.0000", "60.0000", True),
    ],
)
def test_values_equal(a: object, b: object, equal: bool) -> None:
    assert values_equal(a, b) is equal
    assert values_equal(b, a) is equal


def test_resolve_with_picks_the_chosen_side() -> None:
    conflict = FieldConflict("nome", "João Silva", "João Silva Santos", "J. Silva", "manual strategy")
    assert resolve_with(conflict, "local") == "João Silva Santos"
    assert resolve_with(conflict, "external") == "J. Silva"
    assert resolve_with(conflict, "externo") == "J. Silva"
    with pytest.raises(ValueError, match="choice"):
        resolve_with(conflict, "base")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"strategy": "crm_wins"},
        {"strategy": "merge", "rule": "usar_nao_vazio"},
        {"strategy": "manual_if_different", "threshold": 1.5},
    ],
)
def test_field_policy_refuses_unknown_values_when_built(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        FieldPolicy(**kwargs)  # type: ignore[arg-type]


def test_merge_context_refuses_naive_times_and_unknown_directions() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        MergeContext(local_modified_at=datetime(2025, 1, 14, 10, 30))
    with pytest.raises(ValueError, match="direction"):
        MergeContext(direction="sideways")
    with pytest.raises(ValueError, match="skew"):
        MergeContext(skew_tolerance=timedelta(seconds=-1))
