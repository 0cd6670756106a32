"""crmsync's own tables declare their charset and collation on MariaDB/MySQL

An old ERP's database often defaults to latin1 (or utf8mb3), and the `crm_*` tables of
0001 took the database's default. The change-detection scan then compared a link's
`local_hash` (latin1) with the database's MD5 of the ERP's row (the connection's utf8mb4),
and MariaDB refused: "Illegal mix of collations". From here on, whatever the default:

* every `crm_*` table is utf8mb4 (`utf8mb4_unicode_ci`), so a CRM's name with any character
  fits in a log line, a conflict or a failed item;
* hashes and tokens are ASCII compared byte for byte (`ascii_bin`), and the keys and ids
  a CRM hands out are compared byte for byte (`utf8mb4_bin`), never "the same" by accent
  or case.

PostgreSQL has one encoding per database (a column cannot declare another) and SQLite
stores text as given: nothing to do there. The engine names the collation where a
fingerprint crosses into the ERP's columns (crmsync.erp.table), so the tables of an
install not yet upgraded are the only ones that still refuse.

Frozen: this file imports nothing of crmsync but crmsync.db.layout, and names its tables
and columns itself (the models may change later; this migration must not).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 21:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op
from sqlalchemy import inspect, text

from crmsync.db import layout

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TEXT_CHARSET = "utf8mb4"
TEXT_COLLATION = "utf8mb4_unicode_ci"

#: every table of crmsync's own (crm_erp_outbox exists only once triggers are installed).
OWN_TABLES: tuple[str, ...] = (
    layout.STORE_TABLE,
    "crm_integracoes",
    "crm_entity_links",
    "crm_sync_log",
    "crm_conflitos",
    "crm_duplicatas",
    "crm_cursores",
    "crm_webhook_inbox",
    "crm_itens_falhos",
    "crm_erp_outbox",
    layout.VERSION_TABLE,
)

#: (table, column, charset, collation): hashes and tokens in ASCII, ids and keys binary.
EXACT_COLUMNS: tuple[tuple[str, str, str, str], ...] = (
    (layout.STORE_TABLE, "api_key_hash", "ascii", "ascii_bin"),
    ("crm_integracoes", "credenciais_hash", "ascii", "ascii_bin"),
    ("crm_integracoes", "webhook_token", "ascii", "ascii_bin"),
    ("crm_entity_links", "base_hash", "ascii", "ascii_bin"),
    ("crm_entity_links", "local_hash", "ascii", "ascii_bin"),
    ("crm_entity_links", "external_id", "utf8mb4", "utf8mb4_bin"),
    ("crm_entity_links", "remote_version", "utf8mb4", "utf8mb4_bin"),
    ("crm_conflitos", "external_id", "utf8mb4", "utf8mb4_bin"),
    ("crm_duplicatas", "external_id", "utf8mb4", "utf8mb4_bin"),
    ("crm_sync_log", "external_id", "utf8mb4", "utf8mb4_bin"),
    ("crm_itens_falhos", "external_id", "utf8mb4", "utf8mb4_bin"),
    ("crm_itens_falhos", "chave", "utf8mb4", "utf8mb4_bin"),
    ("crm_webhook_inbox", "delivery_id", "utf8mb4", "utf8mb4_bin"),
    ("crm_erp_outbox", "tabela", "utf8mb4", "utf8mb4_bin"),
    ("crm_erp_outbox", "chave", "utf8mb4", "utf8mb4_bin"),
)


def _table_collations() -> dict[str, str]:
    rows = op.get_bind().execute(
        text("SELECT TABLE_NAME, TABLE_COLLATION FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()")
    )
    return {str(name): str(collation or "") for name, collation in rows}


def _column_sql(table: str, column: str, charset: str, collation: str) -> str | None:
    """`MODIFY` keeping the column's length and NULL-ness (None when it is not there)."""
    row = (
        op.get_bind()
        .execute(
            text(
                "SELECT CHARACTER_MAXIMUM_LENGTH, IS_NULLABLE, DATA_TYPE FROM information_schema.COLUMNS"
                " WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = :t AND COLUMN_NAME = :c"
            ),
            {"t": table, "c": column},
        )
        .one_or_none()
    )
    if row is None:
        return None
    length, nullable, data_type = row
    kind = "CHAR" if str(data_type).lower() == "char" else "VARCHAR"
    null = "NULL" if str(nullable).upper() == "YES" else "NOT NULL"
    return f"MODIFY `{column}` {kind}({int(str(length))}) CHARACTER SET {charset} COLLATE {collation} {null}"


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name not in ("mysql", "mariadb"):
        return
    present = set(inspect(bind).get_table_names())
    collations = _table_collations()
    for table in OWN_TABLES:
        if table not in present:
            continue
        changes: list[str] = []
        if collations.get(table) != TEXT_COLLATION:
            # CONVERT rewrites every text column (and the table's default) in one rebuild.
            changes.append(f"CONVERT TO CHARACTER SET {TEXT_CHARSET} COLLATE {TEXT_COLLATION}")
        if changes:
            op.execute(f"ALTER TABLE `{table}` {', '.join(changes)}")
        exact = [
            sql
            for t, column, charset, collation in EXACT_COLUMNS
            if t == table and (sql := _column_sql(table, column, charset, collation)) is not None
        ]
        if exact:
            op.execute(f"ALTER TABLE `{table}` {', '.join(exact)}")


def downgrade() -> None:
    """Nothing to undo that 0003 would notice: utf8mb4 holds whatever latin1 did, and the
    hashes, tokens and ids stay comparable; going back keeps the safer charsets."""
