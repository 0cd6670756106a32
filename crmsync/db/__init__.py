"""Database models and session handling."""

from crmsync.db.base import Base
from crmsync.db.local import Cliente, Loja, Produto, Venda, VendaItem
from crmsync.db.sync import (
    CrmConflito,
    CrmCursor,
    CrmDuplicata,
    CrmEntityLink,
    CrmIntegracao,
    CrmItemFalho,
    CrmSyncLog,
    CrmWebhookInbox,
)

__all__ = [
    "Base",
    "Cliente",
    "CrmConflito",
    "CrmCursor",
    "CrmDuplicata",
    "CrmEntityLink",
    "CrmIntegracao",
    "CrmItemFalho",
    "CrmSyncLog",
    "CrmWebhookInbox",
    "Loja",
    "Produto",
    "Venda",
    "VendaItem",
]
