"""What the migrations must create, spelled out once by hand (not read from our own code:
the tests check the code against it)."""

from __future__ import annotations

# The sync tables: ours on any database, beside the store table and the local or ERP data.
# fmt: off
SYNC_TABLES = frozenset({
    "crm_integracoes", "crm_entity_links", "crm_sync_log", "crm_conflitos", "crm_duplicatas",
    "crm_cursores", "crm_webhook_inbox", "crm_itens_falhos", "crm_criacoes_pendentes",
})
# fmt: on
