"""The engine against the GestãoClick sandbox over real HTTP, through GestaoClickProvider:
spec cases 7.1-7.4, echo, deletes and a lost create answer."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from engine_world import World, make_world
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from crmsync.db.local import Cliente
from crmsync.db.sync import CrmConflito
from crmsync.engine import RunOptions, SyncEngine
from crmsync.providers.gestaoclick import GestaoClickProvider
from crmsync.sandbox import SandboxServer

SPEC_CONFIG = yaml.safe_load((Path(__file__).parents[2] / "crmsync/examples/spec-config.yaml").read_text())
CREDS = {"access_token": "sandbox-access-token", "secret_access_token": "sandbox-secret-token"}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(rate_limit=0, daily_quota=0, seed=7, slow_seconds=0.2) as sb:
        yield sb


class SandboxWorld:
    def __init__(self, world: World, sb: SandboxServer) -> None:
        self.world = world
        self.sb = sb

    def engine(self, config: dict[str, Any] | None = None, **provider_kw: Any) -> SyncEngine:
        from crmsync.config import parse_config

        cfg = parse_config(config or {})
        provider = GestaoClickProvider(
            self.sb.base_url,
            credentials=CREDS,
            config=cfg,
            rate_limit_per_second=None,
            daily_quota=None,
            create_settle_seconds=0,
            **provider_kw,
        )
        return SyncEngine(
            self.world.sf,
            self.world.integracao_id,
            provider=provider,
            options=RunOptions(trigger="manual", actor="e2e"),
        )

    def writes(self) -> int:
        return sum(1 for r in self.sb.requests() if r.get("method") in ("POST", "PUT", "DELETE"))


@pytest.fixture
def env(sf: sessionmaker[Session], sandbox: SandboxServer) -> Iterator[SandboxWorld]:
    for row in sandbox.panel_list("clientes"):
        sandbox.panel_delete("clientes", row["id"])
    world = make_world(sf, None, SPEC_CONFIG)  # type: ignore[arg-type]
    sandbox.reset_stats(quota=True)
    yield SandboxWorld(world, sandbox)


def test_spec_cases_over_http(env: SandboxWorld) -> None:
    w, sb = env.world, env.sb
    # 7.1 created in the ERP -> POST, link
    maria = w.add_cliente(nome="Maria Santos", email="maria@email.com")
    # 7.2 created in the panel -> imported
    pedro = sb.panel_create("clientes", {"nome": "Pedro Oliveira", "tipo_pessoa": "PF", "email": "pedro@x.com"})
    # 7.4 same e-mail on both sides -> retro-link, no duplicate
    joao = w.add_cliente(nome="João Silva", email="joao@email.com")
    sb.panel_create("clientes", {"nome": "João S.", "tipo_pessoa": "PF", "email": "joao@email.com"})
    result = env.engine(SPEC_CONFIG).sync(["cliente"])
    assert result.success, result.as_dict()
    remote = {r["email"]: r for r in sb.panel_list("clientes")}
    assert set(remote) == {"maria@email.com", "pedro@x.com", "joao@email.com"}
    assert len(w.rows(Cliente)) == 3
    assert w.link_of("cliente", maria) is not None and w.link_of("cliente", joao) is not None
    assert str(pedro["id"]) in {w.link_of("cliente", r.id).external_id for r in w.rows(Cliente)}  # type: ignore[union-attr]
    # echo: a second sync writes nothing on either side
    before = env.writes()
    second = env.engine(SPEC_CONFIG).sync(["cliente"])
    assert second.success and env.writes() == before
    assert second.para_crm["total"] == 0 and second.do_crm["total_atualizados"] == 0

    # 7.3 simultaneous edit, nome under manual_se_diferente -> pending conflict, nothing lost
    ext = w.link_of("cliente", joao).external_id  # type: ignore[union-attr]
    w.edit(Cliente, joao, nome="João Silva Santos")
    sb.panel_update("clientes", ext, {"nome": "J. Silva"})
    env.engine(SPEC_CONFIG).sync(["cliente"])
    assert w.get(Cliente, joao).nome == "João Silva Santos"
    assert sb.panel_get("clientes", ext)["nome"] == "J. Silva"
    with w.sf() as s:
        conflict = s.scalars(select(CrmConflito).where(CrmConflito.status == "pendente")).one()
    assert conflict.campos["nome"]["externo"] == "J. Silva"
    env.engine(SPEC_CONFIG).resolve_conflict(conflict.id, "local", actor="gerente")
    assert sb.panel_get("clientes", ext)["nome"] == "João Silva Santos"
    before = env.writes()
    assert env.engine(SPEC_CONFIG).sync(["cliente"]).success
    assert env.writes() == before


def test_remote_delete_and_one_sided_edits_over_http(env: SandboxWorld) -> None:
    w, sb = env.world, env.sb
    ids = [w.add_cliente(nome=f"Cliente {i}", email=f"c{i}@x.com") for i in range(5)]
    assert env.engine().sync(["cliente"]).success
    ext = [w.link_of("cliente", i).external_id for i in ids]  # type: ignore[union-attr]
    sb.panel_delete("clientes", ext[0])
    sb.panel_update("clientes", ext[1], {"email": "novo@x.com"})
    w.edit(Cliente, ids[2], telefone="(11) 3522-8899")
    result = env.engine().sync(["cliente"])
    assert result.success, result.as_dict()
    assert w.get(Cliente, ids[0]).deletado_em is not None
    assert w.get(Cliente, ids[1]).email == "novo@x.com"
    assert sb.panel_get("clientes", ext[2])["telefone"] == "(11) 3522-8899"


def test_lost_create_answer_over_http_makes_no_duplicate(env: SandboxWorld, sf: sessionmaker[Session]) -> None:
    w, sb = env.world, env.sb
    for i in range(8):
        w.add_cliente(nome=f"Perdido {i}", email=f"lost{i}@x.com")
    calm = sb.state.config
    sb.state.config = dataclasses.replace(calm, fault_rate=0.3, seed=3)
    sb.state.fault_rng.seed(3)  # the draw's generator was made at start-up: the same faults every run
    try:
        first = env.engine(max_attempts=2, create_attempts=1).push("cliente")
    finally:
        sb.state.config = calm
    faults = [r for r in sb.requests() if r.get("fault")]
    assert faults, "the sandbox injected no fault: the test would prove nothing"
    second = env.engine().push("cliente")
    assert second.success, [i.message for i in second.itens if not i.success]
    emails = [r["email"] for r in sb.panel_list("clientes")]
    assert sorted(emails) == sorted(f"lost{i}@x.com" for i in range(8)), first.as_dict()


def test_placeholder_keys_never_link_unrelated_people(env: SandboxWorld) -> None:
    """ "naotem@..." typed for customers without e-mail, and the store's own shared address
    (config `chaves_ignoradas`), are not keys: two people holding them stay two people on
    both sides, each with their own name, in both directions (pull match, push look-up)."""
    w, sb = env.world, env.sb
    config = {"sync_config": {**SPEC_CONFIG["sync_config"], "chaves_ignoradas": ["Loja@MinhaLoja.com.br"]}}
    w.set_config(config)
    ana = w.add_cliente(nome="Ana Pereira", email="naotem@gmail.com")
    bruno = w.add_cliente(nome="Bruno Costa", email="loja@minhaloja.com.br")
    carla = sb.panel_create("clientes", {"nome": "Carla Dias", "tipo_pessoa": "PF", "email": "NaoTem@gmail.com"})
    daniel = sb.panel_create(
        "clientes", {"nome": "Daniel Rocha", "tipo_pessoa": "PF", "email": "loja@minhaloja.com.br"}
    )
    result = env.engine(config).sync(["cliente"])
    assert result.success, result.as_dict()

    local = sorted(r.nome for r in w.rows(Cliente))
    remote = sorted(r["nome"] for r in sb.panel_list("clientes"))
    assert local == remote == ["Ana Pereira", "Bruno Costa", "Carla Dias", "Daniel Rocha"]
    links = {r.nome: w.link_of("cliente", r.id) for r in w.rows(Cliente)}
    assert all(link is not None for link in links.values())
    assert links["Carla Dias"].external_id == str(carla["id"])  # type: ignore[union-attr]
    assert links["Daniel Rocha"].external_id == str(daniel["id"])  # type: ignore[union-attr]
    assert links["Ana Pereira"].external_id not in (str(carla["id"]), str(daniel["id"]))  # type: ignore[union-attr]
    assert w.get(Cliente, ana).nome == "Ana Pereira" and w.get(Cliente, bruno).nome == "Bruno Costa"
    # settled: a second sync writes nothing
    before = env.writes()
    assert env.engine(config).sync(["cliente"]).success
    assert env.writes() == before


class _LoseNextPostAnswer(httpx.BaseTransport):
    """The network between us and the sandbox: when armed, the next POST times out before
    reaching it (the create did not happen, and we cannot know)."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.armed = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.armed and request.method == "POST":
            self.armed = False
            raise httpx.ReadTimeout("injected: no answer", request=request)
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


def test_identical_twins_without_keys_never_delete_each_other(env: SandboxWorld) -> None:
    """Two "Consumidor Final" rows with nothing else: after a lost answer the second one's
    look-up by content finds the first one's record. It must neither link nor delete it."""
    w, sb = env.world, env.sb
    first = w.add_cliente(nome="Consumidor Final")
    net = _LoseNextPostAnswer()
    assert env.engine(http_transport=net).push("cliente").success
    first_ext = w.link_of("cliente", first).external_id  # type: ignore[union-attr]
    second = w.add_cliente(nome="Consumidor Final")
    net.armed = True
    failed = env.engine(http_transport=net, max_attempts=1, create_attempts=1).push("cliente")
    assert not failed.success
    assert "possível duplicata" in " ".join(i.message or "" for i in failed.itens)
    assert sb.panel_get("clientes", first_ext)["nome"] == "Consumidor Final"  # still there
    assert w.link_of("cliente", first).external_id == first_ext  # type: ignore[union-attr]
    assert w.link_of("cliente", second) is None
    # The next run creates the second one; both customers exist once on each side.
    assert env.engine(http_transport=net).push("cliente").success
    second_ext = w.link_of("cliente", second).external_id  # type: ignore[union-attr]
    assert second_ext != first_ext
    assert sorted(str(r["id"]) for r in sb.panel_list("clientes")) == sorted([first_ext, second_ext])
