"""The spec's config.php, as written: `sync_config` and `entidades` side by side, is one
config (both parts take effect); a key given in both places with different values is a
config error naming it."""

from __future__ import annotations

import pytest

from crmsync.config import ConfigError, parse_config

SPEC_SHAPE = {
    "sync_config": {
        "estrategia_padrao": "last_write_wins",
        "campos_especiais": {
            "email": {"estrategia": "ecletech_wins", "justificativa": "Email é validado no Ecletech"},
            "telefone": {"estrategia": "merge", "regra": "usar_nao_vazio"},
            "produtos": {"estrategia": "crm_wins", "read_only": True},
        },
    },
    "entidades": {
        "cliente": {"read_only": False, "sync_strategy": "crm_wins"},
        "produto": {"read_only": True, "sync_strategy": "crm_wins"},
    },
}


def test_sync_config_beside_entidades_is_accepted_as_written() -> None:
    config = parse_config(SPEC_SHAPE)
    assert config.estrategia_padrao == "last_write_wins"
    assert config.entity("cliente").estrategia == "external_wins"  # crm_wins, spelled canonically
    assert config.direction("produto") == "pull"
    assert config.direction("cliente") != "pull"
    assert config.policy_for("cliente", "email").strategy == config.policy_for("produto", "email").strategy
    assert config.policy_for("cliente", "email").strategy != "external_wins"


def test_same_key_inside_and_outside_must_agree() -> None:
    clash = {"sync_config": {"estrategia_padrao": "crm_wins"}, "estrategia_padrao": "ecletech_wins"}
    with pytest.raises(ConfigError, match="estrategia_padrao"):
        parse_config(clash)
    same = {"sync_config": {"estrategia_padrao": "crm_wins"}, "estrategia_padrao": "crm_wins"}
    assert parse_config(same).estrategia_padrao == "external_wins"
