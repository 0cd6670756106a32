"""Integration config: the spec's own example loads as written; an invalid config is refused
with the bad key named (API 422, CLI exit 2) and the old config stays."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

import crmsync
from crmsync.cli import app as cli_app
from crmsync.config import load_config_file
from crmsync.services.integracoes import config_to_column

from .helpers import ADMIN, Store, post_integration

SPEC_EXAMPLE = Path(crmsync.__file__).parent / "examples" / "spec-config.yaml"


def test_spec_example_loads_as_written() -> None:
    cfg = load_config_file(SPEC_EXAMPLE)
    assert cfg.estrategia_padrao == "last_write_wins"
    email = cfg.policy_for("cliente", "email")
    assert email.strategy == "local_wins"
    telefone = cfg.policy_for("cliente", "telefone")
    assert (telefone.strategy, telefone.rule) == ("merge", "non_empty")
    nome = cfg.policy_for("cliente", "nome")
    assert (nome.strategy, nome.threshold) == ("manual_if_different", 0.5)
    assert cfg.policy_for("cliente", "ativo").strategy == "local_wins"
    assert cfg.direction("produto") == "pull"
    assert cfg.entity("produto").estrategia == "external_wins"
    assert cfg.policy_for("produto", "valor_venda").strategy == "external_wins"
    assert cfg.direction("cliente") == "both"
    # What is stored is the validated config under our own names, and it loads back the same.
    stored = config_to_column(cfg)
    assert stored["entidades"]["produto"]["direcao"] == "pull"
    assert load_config_file(SPEC_EXAMPLE).model_dump() == type(cfg).model_validate(stored).model_dump()


def _integration(client: TestClient, store: Store) -> int:
    tokens = {"access_token": "a" * 12, "secret_access_token": "s" * 12}
    r = post_integration(client, store.id, base_url="https://api.gestaoclick.com", **tokens)
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def test_config_over_the_api(client: TestClient, store: Store) -> None:
    integ = _integration(client, store)
    url = f"/api/admin/integracoes/{integ}/config"
    good = {
        "estrategia_padrao": "crm_wins",
        "entidades": {"produtos": {"read_only": True}},
        "campos_especiais": {"email": {"estrategia": "ecletech_wins"}},
    }
    r = client.put(url, json=good, headers=ADMIN)
    assert r.status_code == 200, r.text
    assert r.json()["estrategia_padrao"] == "external_wins"
    before = client.get(url, headers=ADMIN).json()
    assert before["entidades"]["produto"]["direcao"] == "pull"

    for bad, key in [
        ({"estrategia_padrao": "quem_grita_mais"}, "estrategia_padrao"),
        ({"campos_especiais": {"email": {"estrategia": "x"}}}, "campos_especiais.email.estrategia"),
        ({"intervalo_pull_minutos": 0}, "intervalo_pull_minutos"),
        ({"timezone": "Marte/Olimpo"}, "timezone"),
        ({"chave_inventada": 1}, "chave_inventada"),
    ]:
        r = client.put(url, json=bad, headers=ADMIN)
        assert r.status_code == 422, r.text
        assert f"'{key}'" in r.json()["detail"], r.json()
        assert client.get(url, headers=ADMIN).json() == before

    # A bad config at creation is refused too, and nothing is created.
    bad_config = {"estrategia_padrao": "nope"}
    r = post_integration(client, store.id, provider="gestao_click", base_url="https://x.example", config=bad_config)
    assert r.status_code == 422 and "estrategia_padrao" in r.json()["detail"]
    assert len(client.get("/api/admin/integracoes", headers=ADMIN).json()) == 1


def test_config_over_the_cli(client: TestClient, store: Store, tmp_path: Path) -> None:
    integ = _integration(client, store)
    runner = CliRunner()
    r = runner.invoke(cli_app, ["integration", "set-config", str(integ), str(SPEC_EXAMPLE)])
    assert r.exit_code == 0, r.output
    before = client.get(f"/api/admin/integracoes/{integ}/config", headers=ADMIN).json()
    assert before["entidades"]["produto"]["direcao"] == "pull"

    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "sync_config:\n  estrategia_padrao: last_write_wins\n  campos_especiais:\n"
        "    telefone:\n      estrategia: merge\n      regra: chute\n"
    )
    r = runner.invoke(cli_app, ["integration", "set-config", str(integ), str(bad)])
    assert r.exit_code == 2
    assert "campos_especiais.telefone.regra" in r.output
    assert len(r.output.strip().splitlines()) == 1
    assert client.get(f"/api/admin/integracoes/{integ}/config", headers=ADMIN).json() == before

    r = runner.invoke(cli_app, ["integration", "set-config", str(integ), str(tmp_path / "missing.yaml")])
    assert r.exit_code == 2
    (tmp_path / "broken.yaml").write_text("a: [1,\n")
    r = runner.invoke(cli_app, ["integration", "set-config", str(integ), str(tmp_path / "broken.yaml")])
    assert r.exit_code == 2


@pytest.mark.parametrize("name", ["bad-key.yaml"])
def test_cli_add_with_bad_config_creates_nothing(client: TestClient, store: Store, tmp_path: Path, name: str) -> None:
    cfg = tmp_path / name
    cfg.write_text("entidades:\n  pedidos:\n    direcao: both\n")
    r = CliRunner().invoke(
        cli_app,
        [
            "integration",
            "add",
            "--loja",
            str(store.id),
            "--provider",
            "gestao_click",
            "--base-url",
            "https://api.gestaoclick.com",
            "--access-token",
            "tok-123456789",
            "--secret-access-token",
            "sec-123456789",
            "--config",
            str(cfg),
        ],
    )
    assert r.exit_code == 2
    assert "pedidos" in r.output
    assert client.get("/api/admin/integracoes", headers=ADMIN).json() == []
