"""What an integration syncs, read from its typed config once (`entities()`, `syncs()`), the
answer every job, the scheduler and the status page use."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from crmsync.config import parse_config
from crmsync.model.canonical import ENTITY_TYPES

DIRECTIONS = ("both", "push", "pull")


def test_no_entities_named_means_all_in_dependency_order() -> None:
    cfg = parse_config({})
    assert cfg.entities() == ["cliente", "produto", "venda"]
    assert all(cfg.syncs(e, d) for e in ENTITY_TYPES for d in ("push", "pull"))


def test_spec_names_and_directions() -> None:
    cfg = parse_config({"entidades": {"vendas": {"direcao": "push"}, "clientes": {}}})
    assert cfg.entities() == ["cliente", "venda"]
    assert cfg.syncs("venda", "push") and not cfg.syncs("venda", "pull")
    assert cfg.syncs("cliente", "pull") and cfg.syncs("cliente", "push")
    assert not cfg.syncs("produto", "push") and not cfg.syncs("produto", "pull")


@given(st.dictionaries(st.sampled_from(ENTITY_TYPES), st.sampled_from(DIRECTIONS)))
def test_syncs_agrees_with_entities_and_direction(chosen: dict[str, str]) -> None:
    cfg = parse_config({"entidades": {e: {"direcao": d} for e, d in chosen.items()}})
    expected_entities = [e for e in ENTITY_TYPES if e in chosen] if chosen else list(ENTITY_TYPES)
    assert cfg.entities() == expected_entities
    for entity in ENTITY_TYPES:
        for wanted in ("push", "pull"):
            direction = chosen.get(entity, "both")
            expected = entity in expected_entities and direction in ("both", wanted)
            assert cfg.syncs(entity, wanted) is expected
