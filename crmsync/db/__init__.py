"""Database models and session handling.

The models are loaded on first use of one of these names, not by importing the package: a
process that imports only a submodule (the one that lists a long scan's pages,
crmsync.providers.read_ahead) should not pay for the ORM.
"""

from __future__ import annotations

import importlib
from typing import Any

_HOMES = {
    "Base": "crmsync.db.base",
    **dict.fromkeys(("Cliente", "Loja", "Produto", "Venda", "VendaItem"), "crmsync.db.local"),
    **dict.fromkeys(
        (
            "CrmConflito",
            "CrmCursor",
            "CrmDuplicata",
            "CrmEntityLink",
            "CrmIntegracao",
            "CrmItemFalho",
            "CrmSyncLog",
            "CrmWebhookInbox",
        ),
        "crmsync.db.sync",
    ),
}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'crmsync.db' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)


def load_models() -> None:
    """Register every model on the metadata (Alembic's autogenerate compares all of them)."""
    for home in set(_HOMES.values()):
        importlib.import_module(home)
