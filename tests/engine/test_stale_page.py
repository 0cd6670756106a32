"""A page read before a push committed must not undo that push.

With read-ahead a page can wait while the same record is pushed (a save's automatic push,
a webhook, a resolved conflict). Merging the older copy from the page against the new base
would look like a remote edit and put the old value back on the local row."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from engine_world import World, make_world
from sqlalchemy.orm import Session, sessionmaker

from crmsync.db.local import Cliente
from crmsync.providers.base import Page
from crmsync.providers.memory import MemoryProvider


class ListingRacedByPush(MemoryProvider):
    """A provider whose listing is overtaken: ``between`` runs after a page is read and
    before the engine gets it, as a push from another job would."""

    between: Callable[[], None] | None = None

    def iter_pages(self, entity_type: str, start_page: int = 1, *, newest_first: bool = False) -> Iterator[Page]:
        for page in super().iter_pages(entity_type, start_page, newest_first=newest_first):
            hook, self.between = self.between, None
            if hook is not None:
                hook()
            yield page


def test_a_push_after_the_page_was_read_is_not_undone(sf: sessionmaker[Session]) -> None:
    provider = ListingRacedByPush(page_size=1)
    world: World = make_world(sf, provider)  # type: ignore[arg-type]
    ana = world.add_cliente(nome="Ana Souza", email="ana@x.com", cidade="Recife")
    world.add_cliente(nome="Bia Lima", email="bia@x.com")
    assert world.engine().sync(["cliente"]).success
    ext = world.link_of("cliente", ana).external_id  # type: ignore[union-attr]

    def push_an_edit() -> Any:
        world.edit(Cliente, ana, cidade="Olinda")
        assert world.engine().push("cliente").success

    provider.between = push_an_edit
    pulled = world.engine().pull("cliente", full=True)
    assert pulled.success
    assert world.get(Cliente, ana).cidade == "Olinda"  # the page said Recife: not applied
    assert provider.panel_get("cliente", ext)["cidade"] == "Olinda"
    # and the next pull, reading the record as it is now, finds nothing to do
    again = world.engine().pull("cliente", full=True)
    assert again.success and again.total_atualizados == 0
    assert world.get(Cliente, ana).cidade == "Olinda"
