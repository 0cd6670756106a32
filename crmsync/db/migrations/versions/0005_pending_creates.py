"""crm_criacoes_pendentes: a create's intent, stored before the CRM is called

A create whose answer is lost leaves a record in the CRM that crmsync made but does not
know; the values sent, kept here until the link is made, let a later run recognise it as
its own (issue #18, item 3).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 21:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import crmsync.db.types
from crmsync.db import layout

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "crm_criacoes_pendentes"


def upgrade() -> None:
    store = layout.STORE_TABLE
    op.create_table(
        TABLE,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("id_loja", sa.Integer(), nullable=False),
        sa.Column("id_integracao", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=40), nullable=False),
        sa.Column("entity_type", sa.String(length=20), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=False),
        sa.Column("enviado", sa.JSON(), nullable=False),
        sa.Column("enviado_em", crmsync.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["id_integracao"], ["crm_integracoes.id"], name=op.f(f"fk_{TABLE}_id_integracao_crm_integracoes")
        ),
        sa.ForeignKeyConstraint(["id_loja"], [f"{store}.id"], name=op.f(f"fk_{TABLE}_id_loja_{store}")),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{TABLE}")),
        sa.UniqueConstraint("id_loja", "provider", "entity_type", "entity_id", name=f"uq_{TABLE}_local"),
        # As every crm_* table since 0004: utf8mb4 whatever a MariaDB database's default is
        # (a latin1 ERP database would otherwise refuse a name sent with an emoji).
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
    )
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        batch_op.create_index(batch_op.f(f"ix_{TABLE}_id_integracao"), ["id_integracao"], unique=False)
        batch_op.create_index(batch_op.f(f"ix_{TABLE}_id_loja"), ["id_loja"], unique=False)


def downgrade() -> None:
    # Its indexes go with it (MariaDB refuses to drop one a foreign key still uses).
    op.drop_table(TABLE)
