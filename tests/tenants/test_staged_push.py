"""The push applies a CRM's answer in its own short transaction after checking the row did
not move: a user editing the row while the CRM is being written (which they can: no lock is
held meanwhile) has the edit merged in the next round, nothing lost, nothing doubled."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from crmsync.db.local import Cliente
from crmsync.db.session import get_sessionmaker
from crmsync.providers.base import RemoteRecord
from crmsync.providers.memory import MemoryProvider

sys.path.insert(0, str(Path(__file__).parents[1] / "engine"))
from engine_world import World, make_world


class CrmWithUserAtTheDesk(MemoryProvider):
    """The in-process CRM, with a person editing the local row while an update is in flight."""

    during_update: Callable[[], None] | None = None

    def update(
        self, entity_type: str, external_id: str, data: Mapping[str, Any], current: RemoteRecord | None = None
    ) -> RemoteRecord:
        action, self.during_update = self.during_update, None
        if action is not None:
            action()  # a write to the database while the push waits on the CRM
        return super().update(entity_type, external_id, data, current)


def edit_during_the_crm_write_is_merged(db_url: str) -> tuple[World, int]:
    """A cliente pushed, edited, and edited again by a user while its update is in the CRM:
    both edits reach the CRM, nothing is left dirty, no second record. The world and the id."""
    provider = CrmWithUserAtTheDesk()
    world = make_world(get_sessionmaker(db_url), provider)
    cliente = world.add_cliente(nome="Ana Souza", email="ana@exemplo.com")
    first = world.engine().push_one("cliente", cliente)
    assert first.success and first.operacao == "create"

    world.edit(Cliente, cliente, nome="Ana Souza Lima")
    provider.during_update = lambda: world.edit(Cliente, cliente, observacoes="cliente desde 2020")
    second = world.engine().push_one("cliente", cliente)
    assert second.success and second.operacao == "update", second.message

    remote = provider.panel_get("cliente", second.external_id or "")
    assert remote is not None
    assert remote["nome"] == "Ana Souza Lima" and remote["observacoes"] == "cliente desde 2020"
    third = world.engine().push("cliente")  # nothing left dirty: the link took both edits
    assert third.total == 0
    assert len(provider.panel_list("cliente")) == 1
    return world, cliente


def test_edit_during_the_crm_write_is_merged_not_lost(app_env: dict[str, str], sqlite_url: str) -> None:
    edit_during_the_crm_write_is_merged(sqlite_url)
