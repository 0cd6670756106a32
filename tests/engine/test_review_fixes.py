"""Review fixes in the engine: failed-item episodes (`resolvido` / `ignorado`) and the
structured quota flags of push and pull results."""

from __future__ import annotations

from engine_world import World
from sqlalchemy import select

from crmsync.db.local import Cliente
from crmsync.db.sync import CrmItemFalho
from crmsync.providers.base import FatalError, ProviderError, RateLimitedError
from crmsync.services.failures import ignore_item


def _item(world: World) -> CrmItemFalho:
    with world.sf() as s:
        return s.scalars(select(CrmItemFalho)).one()


def _fail_push(world: World, cid: int) -> None:
    world.provider.fail_next(1, FatalError)  # the first provider call, linked or not
    assert not world.engine().push_one("cliente", cid).success


def _ignore(world: World) -> None:
    with world.sf() as s:
        ignore_item(s, s.scalars(select(CrmItemFalho)).one().id)


def _edit_then_fail_starts_a_new_episode(world: World, cid: int, nome: str) -> None:
    world.edit(Cliente, cid, nome=nome)
    _fail_push(world, cid)
    item = _item(world)
    assert item.status == "pendente" and item.tentativas == 1


def test_new_failure_after_resolved_starts_a_new_episode(world: World) -> None:
    cid = world.add_cliente(nome="Antiga", email="antiga@x.com")
    for _ in range(7):
        _fail_push(world, cid)
    assert _item(world).tentativas == 7
    assert world.engine().push_one("cliente", cid).success
    assert _item(world).status == "resolvido"
    # The seven attempts of the resolved episode do not count towards this one.
    _edit_then_fail_starts_a_new_episode(world, cid, "Antiga Editada")


def test_ignored_item_stays_ignored_until_the_record_changes(world: World) -> None:
    cid = world.add_cliente(nome="Ignorada", email="ign@x.com")
    _fail_push(world, cid)
    _fail_push(world, cid)
    _ignore(world)
    ignored_at = _item(world).atualizado_em
    # The same, unchanged record fails again (a manual push): a person said to leave it alone.
    _fail_push(world, cid)
    item = _item(world)
    assert item.status == "ignorado" and item.tentativas == 2 and item.atualizado_em == ignored_at
    # The record was edited after it was ignored: its next failure is a new episode.
    _edit_then_fail_starts_a_new_episode(world, cid, "Ignorada Corrigida")


def test_success_ends_an_ignored_episode(world: World) -> None:
    cid = world.add_cliente(nome="Volta", email="volta@x.com")
    _fail_push(world, cid)
    _ignore(world)
    assert world.engine().push_one("cliente", cid).success
    assert _item(world).status == "resolvido"
    _edit_then_fail_starts_a_new_episode(world, cid, "Volta de Novo")


def test_ignored_pull_item_stays_ignored_on_failure(world: World) -> None:
    ext = world.provider.panel_create("cliente", {"nome": "Remota", "email": "remota@x.com"})
    world.provider.fail_next(1, FatalError, methods={"get"})
    assert not world.engine().pull_one("cliente", ext).success
    _ignore(world)
    world.provider.fail_next(1, FatalError, methods={"get"})
    assert not world.engine().pull_one("cliente", ext).success
    assert _item(world).status == "ignorado"


def _quota_refusal(_message: str) -> ProviderError:
    # Deliberately without the words "cota diária": the flag, not the text, says what it is.
    return RateLimitedError("limite do dia atingido", retry_after=1800.0, quota_exhausted=True)


def test_push_result_flags_a_quota_refusal(world: World) -> None:
    cid = world.add_cliente(nome="Cota", email="cota@x.com")
    world.provider.fail_next(1, _quota_refusal, methods={"find_by_keys"})
    result = world.engine().push_one("cliente", cid)
    assert not result.success
    assert result.quota_exhausted is True and result.retry_after == 1800.0
    shape = result.as_dict()
    assert {"success", "operacao", "external_id", "entity_id", "message", "conflitos", "planned"} <= set(shape)
    assert shape["quota_exhausted"] is True and shape["retry_after"] == 1800.0
    # An ordinary failure is not a quota refusal.
    world.provider.fail_next(1, FatalError, methods={"find_by_keys"})
    other = world.engine().push_one("cliente", cid)
    assert not other.success and other.quota_exhausted is False and other.retry_after is None
    # The summary keeps each item's flag.
    world.provider.fail_next(1, _quota_refusal, methods={"find_by_keys"})
    summary = world.engine().push("cliente")
    assert summary.as_dict()["itens"][0]["quota_exhausted"] is True


def test_pull_results_flag_quota_refusals(world: World) -> None:
    world.provider.panel_create("cliente", {"nome": "Lista", "email": "lista@x.com"})
    world.provider.fail_next(1, _quota_refusal, methods={"list_page"})
    result = world.engine().pull("cliente")
    assert not result.success and result.quota_exhausted is True and result.retry_after == 1800.0
    shape = result.as_dict()
    assert shape["quota_exhausted"] is True and "total_processados" in shape and "erros" in shape

    ext = world.provider.panel_create("cliente", {"nome": "Um", "email": "um@x.com"})
    world.provider.fail_next(1, _quota_refusal, methods={"get"})
    one = world.engine().pull_one("cliente", ext)
    assert one.quota_exhausted is True
    assert one.erros == [{"external_id": ext, "erro": "limite do dia atingido", "quota_exhausted": True}]

    world.provider.fail_next(1, FatalError, methods={"get"})
    plain = world.engine().pull_one("cliente", ext)
    assert not plain.success and plain.quota_exhausted is False
    assert set(plain.erros[0]) == {"external_id", "erro"}  # unchanged shape for other errors


def test_an_item_without_a_readable_id_is_reported_with_the_spec_marker() -> None:
    """The provider marks an item whose id it could not read with "?"; the result says
    "unknown" (the spec's marker), which the runtime skips instead of parking a failed item
    keyed on a made-up id."""
    from crmsync.engine.results import UNKNOWN_EXTERNAL_ID, PullResult

    result = PullResult()
    result.error("?", "item com tipo inesperado")
    result.error(None, "página ilegível")
    result.error("42", "CPF inválido")
    assert [e["external_id"] for e in result.erros] == [UNKNOWN_EXTERNAL_ID, UNKNOWN_EXTERNAL_ID, "42"]
