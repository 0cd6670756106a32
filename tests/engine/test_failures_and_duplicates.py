"""Failed items, lost answers, fuzzy duplicates, fields a provider lacks, store isolation,
dry runs and the log."""

from __future__ import annotations

from collections.abc import Callable

from engine_world import World, make_world
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from crmsync.db.local import Cliente
from crmsync.db.sync import CrmDuplicata, CrmEntityLink, CrmItemFalho, CrmSyncLog
from crmsync.engine.links import Binder
from crmsync.providers.base import FatalError, RetriableError, ValidationError


def test_retry_after_lost_create_answer_makes_no_duplicate(world: World) -> None:
    """Prior-art complaint 2: the create happened but its answer was lost."""
    cid = world.add_cliente(nome="Rita", email="rita@x.com")
    world.provider.fail_next(1, RetriableError, methods={"create"}, after=True)
    first = world.engine().push("cliente")
    assert not first.success and first.erros == 1
    assert len(world.provider.panel_list("cliente")) == 1
    second = world.engine().push("cliente")
    assert second.success and second.itens[0].operacao == "link"
    assert len(world.provider.panel_list("cliente")) == 1
    link = world.link_of("cliente", cid)
    assert link is not None and link.external_id == next(iter(world.provider.panel_list("cliente")))


def test_run_with_failed_rows_reports_failure_and_tracks_items(world: World) -> None:
    """Prior-art complaint 7: never "success" over failed rows."""
    ok = world.add_cliente(nome="Ok", email="ok@x.com")
    bad = world.add_cliente(nome="Recusado", email="bad@x.com")
    world.provider.fail_next(1, ValidationError, methods={"find_by_keys"}, skip=1)
    summary = world.engine().push("cliente")
    assert not summary.success and summary.sucessos == 1 and summary.erros == 1
    assert world.link_of("cliente", ok) is not None and world.link_of("cliente", bad) is None
    with world.sf() as s:
        item = s.scalars(select(CrmItemFalho)).one()
        assert item.status == "pendente" and item.tentativas == 1 and item.entity_id == bad
        errors = list(s.scalars(select(CrmSyncLog).where(CrmSyncLog.status == "erro")))
        assert errors and errors[0].run_id
    sync = world.engine().sync()
    assert sync.success
    with world.sf() as s:
        assert s.scalars(select(CrmItemFalho)).one().status == "resolvido"


def test_failed_item_counts_attempts(world: World) -> None:
    world.add_cliente(nome="Sempre Falha", email="f@x.com")
    for _ in range(2):
        world.provider.fail_next(1, FatalError, methods={"find_by_keys"})
        assert not world.engine().push("cliente").success
    with world.sf() as s:
        assert s.scalars(select(CrmItemFalho)).one().tentativas == 2


def test_fuzzy_match_only_suggests_and_creates_nothing_until_reviewed(world: World) -> None:
    cid = world.add_cliente(nome="Joao da Silva LTDA")
    ext = world.provider.panel_create("cliente", {"nome": "João da Silva", "email": "js@x.com"})
    engine = world.engine(trigger="cron")
    result = engine.pull("cliente")
    assert result.total_criados == 0 and result.total_ignorados == 1 and result.success
    assert world.link_of("cliente", cid) is None and len(world.rows(Cliente)) == 1
    world.engine().pull("cliente")
    with world.sf() as s:
        dup = s.scalars(select(CrmDuplicata)).one()
    assert dup.status == "pendente" and dup.entity_id == cid and dup.external_id == ext and dup.score >= 0.85
    answer = world.engine().resolve_duplicate(dup.id, "descartar", actor="rev")
    assert answer["success"] and answer["entity_id"] != cid
    assert len(world.rows(Cliente)) == 2
    again = world.engine().pull("cliente")
    assert again.total_criados == 0 and len(world.rows(Cliente)) == 2
    with world.sf() as s:
        assert len(list(s.scalars(select(CrmDuplicata)))) == 1


def test_resolve_duplicate_link_merges_without_erasing(world: World) -> None:
    cid = world.add_cliente(nome="Maria Aparecida Souza", cidade="Recife")
    ext = world.provider.panel_create("cliente", {"nome": "Maria Aparecida de Souza", "email": "mas@x.com"})
    world.engine().pull("cliente")
    with world.sf() as s:
        dup = s.scalars(select(CrmDuplicata)).one()
    world.engine().resolve_duplicate(dup.id, "vincular", actor="rev")
    link = world.link_of("cliente", cid)
    assert link is not None and link.external_id == ext
    row = world.get(Cliente, cid)
    assert row.email == "mas@x.com" and row.cidade == "Recife"
    assert world.provider.panel_get("cliente", ext)["cidade"] == "Recife"  # type: ignore[index]


def test_field_the_provider_lacks_is_never_erased(world_factory: Callable[..., World]) -> None:
    world = world_factory(lacks={"cliente": {"observacoes", "rg"}})
    cid = world.add_cliente(nome="Lia", email="lia@x.com", observacoes="cliente VIP", rg="123")
    world.engine().sync()
    ext = world.link_of("cliente", cid).external_id  # type: ignore[union-attr]
    world.provider.panel_update("cliente", ext, {"cidade": "Manaus"})
    world.engine().sync()
    row = world.get(Cliente, cid)
    assert row.observacoes == "cliente VIP" and row.rg == "123" and row.cidade == "Manaus"
    assert "observacoes" not in world.provider.panel_get("cliente", ext)  # type: ignore[operator]
    writes = world.provider.write_calls
    world.engine().sync()
    assert world.provider.write_calls == writes


def test_rows_of_other_stores_are_never_touched(sf: sessionmaker[Session], world: World) -> None:
    other = make_world(sf, world.provider, loja_nome="Outra loja")
    foreign = other.add_cliente(nome="De outra loja", email="outra@x.com")
    world.add_cliente(nome="Daqui", email="daqui@x.com")
    world.provider.panel_create("cliente", {"nome": "Do CRM", "email": "outra@x.com"})
    world.engine().sync()
    assert world.link_of("cliente", foreign) is None
    assert other.get(Cliente, foreign).nome == "De outra loja"
    assert sorted(r.nome for r in world.rows(Cliente)) == ["Daqui", "Do CRM"]


def test_dry_run_plans_every_write_and_writes_nothing(world: World) -> None:
    world.add_cliente(nome="Novo Local", email="nl@x.com")
    world.provider.panel_create("cliente", {"nome": "Novo Remoto", "email": "nr@x.com"})
    result = world.engine(dry_run=True).sync()
    assert result.success
    kinds = sorted((p["lado"], p["operacao"]) for p in result.planned)
    assert kinds == [("externo", "create"), ("local", "create")]
    assert world.provider.write_calls == 0 and len(world.provider.panel_list("cliente")) == 1
    assert [r.nome for r in world.rows(Cliente)] == ["Novo Local"]
    with world.sf() as s:
        assert not list(s.scalars(select(CrmEntityLink)))
        logs = s.scalars(select(CrmSyncLog).where(CrmSyncLog.operacao == "create"))
        statuses = {log.status for log in logs}
    assert statuses == {"simulado"}


def test_binder_turns_a_unique_violation_into_the_winning_link(world: World) -> None:
    cid = world.add_cliente(nome="Corrida", email="c@x.com")
    binder = Binder(id_loja=world.loja_id, id_integracao=world.integracao_id, provider="gestao_click")
    with world.sf() as s, s.begin():
        s.add(
            binder.new_link(
                "cliente", cid, "m1", base=None, local_hash=None, remote_version=None, remote_modified_at=None
            )
        )
    with world.sf() as s, s.begin():
        got = binder.create(
            s,
            binder.new_link(
                "cliente", cid, "m1", base=None, local_hash=None, remote_version=None, remote_modified_at=None
            ),
        )
        assert got.id is not None
    with world.sf() as s:
        assert len(list(s.scalars(select(CrmEntityLink)))) == 1


def test_pull_one_webhook_path(world: World) -> None:
    ext = world.provider.panel_create("cliente", {"nome": "Via Webhook", "email": "wh@x.com"})
    result = world.engine(trigger="webhook").pull_one("cliente", ext)
    assert result.success and result.total_criados == 1
    world.provider.panel_delete("cliente", ext)
    result = world.engine(trigger="webhook").pull_one("cliente", ext)
    assert result.total_excluidos == 1
    assert world.rows(Cliente)[0].deletado_em is not None


def test_dry_run_plans_updates_links_and_deletes(world: World) -> None:
    kept = world.add_cliente(nome="Editado", email="ed@x.com")
    gone = world.add_cliente(nome="Removido", email="rm@x.com")
    world.engine().sync()
    ext_gone = world.link_of("cliente", gone).external_id  # type: ignore[union-attr]
    world.edit(Cliente, kept, cidade="Olinda")
    world.provider.panel_delete("cliente", ext_gone)
    twin = world.add_cliente(nome="Gêmeo", email="twin@x.com")
    world.provider.panel_create("cliente", {"nome": "Gêmeo", "email": "twin@x.com"})
    writes = world.provider.write_calls
    result = world.engine(dry_run=True).sync()
    kinds = {(p["lado"], p["operacao"]) for p in result.planned}
    assert {("externo", "update"), ("vinculo", "link"), ("local", "delete")} <= kinds, kinds
    assert world.provider.write_calls == writes
    assert world.get(Cliente, gone).deletado_em is None and world.link_of("cliente", twin) is None
    remote = world.provider.panel_get("cliente", world.link_of("cliente", kept).external_id)  # type: ignore[union-attr]
    assert remote is not None and remote.get("cidade") is None
