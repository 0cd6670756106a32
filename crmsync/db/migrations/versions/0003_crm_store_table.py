"""crmsync's store/API-key table takes the crm_ prefix: lojas -> crm_lojas

Attached to an ERP's database, an unprefixed `lojas` of ours would sit beside (or collide
with) the ERP's own; every table crmsync owns is `crm_*`. Databases created by 0001 with a
schema map already have `crm_lojas` (and no local tables): nothing to do there. The choice
is read from the database (crmsync.db.layout), so this never renames an ERP's `lojas`.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06 02:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op
from sqlalchemy import inspect

from crmsync.db import layout

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD = layout.LEGACY_STORE_TABLE
NEW = layout.STORE_TABLE


def _rename(old: str, new: str) -> None:
    """Rename our store table and its named constraints (the naming convention derives
    them from the table name, and the models expect the new ones). Foreign keys follow a
    renamed table on every backend (by reference on PostgreSQL and InnoDB, and SQLite's
    ALTER TABLE RENAME rewrites the referencing tables)."""
    bind = op.get_bind()
    dialect = bind.dialect.name
    op.rename_table(old, new)
    if dialect == "postgresql":
        op.execute(f'ALTER TABLE "{new}" RENAME CONSTRAINT "pk_{old}" TO "pk_{new}"')
        op.execute(f'ALTER TABLE "{new}" RENAME CONSTRAINT "uq_{old}_api_key_hash" TO "uq_{new}_api_key_hash"')
    elif dialect in ("mysql", "mariadb"):
        op.execute(f"ALTER TABLE `{new}` RENAME INDEX `uq_{old}_api_key_hash` TO `uq_{new}_api_key_hash`")
    else:
        with op.batch_alter_table(new, recreate="always") as batch:
            batch.drop_constraint(f"uq_{old}_api_key_hash", type_="unique")
            batch.create_unique_constraint(f"uq_{new}_api_key_hash", ["api_key_hash"])


def upgrade() -> None:
    existing = layout.table_names(op.get_bind())
    if NEW in existing or OLD not in existing:
        return  # created as crm_lojas by 0001 (attached to an ERP)
    if not {"api_key_hash", "api_key_prefix"} <= _columns(OLD):
        return  # not ours: never rename an ERP's table
    _rename(OLD, NEW)


def downgrade() -> None:
    # Only a database whose local tables are ours had `lojas` before 0003.
    if layout.owns_local_tables(op.get_bind(), NEW):
        _rename(NEW, OLD)


def _columns(table: str) -> set[str]:
    return {c["name"] for c in inspect(op.get_bind()).get_columns(table)}
