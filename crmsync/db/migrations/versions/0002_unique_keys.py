"""unique keys held by the database: chave_* columns and unique indexes per store

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06 02:30:00

Each key column holds the value the matcher links on (NULL when the row is deleted, the
value empty, a placeholder or one of the store's chaves_ignoradas); a unique index on
(id_loja, chave_*) holds it on SQLite, PostgreSQL and MariaDB alike. Existing rows are
keyed here; where several live rows already share a value, only the oldest gets the key
(the others stay as they are, to be merged by a person), so the upgrade never fails on old
duplicates.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

import crmsync.db.types

# The spelling rules are the application's own (the keys must be written the way the
# running code writes them); imported here, at upgrade time only.
from crmsync.config import parse_config
from crmsync.matching import exact_value, ignored_keys

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KEYS: dict[str, dict[str, tuple[str, int]]] = {
    "clientes": {"cpf": ("chave_cpf", 11), "cnpj": ("chave_cnpj", 14), "email": ("chave_email", 254)},
    "produtos": {"codigo": ("chave_codigo", 60), "codigo_barra": ("chave_codigo_barra", 60)},
}


def upgrade() -> None:
    """Add the key columns, key the existing rows, then create the unique indexes."""
    for table, keys in _KEYS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column, length in keys.values():
                batch_op.add_column(sa.Column(column, crmsync.db.types.KeyString(length), nullable=True))
    _backfill()
    for table, keys in _KEYS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column, _length in keys.values():
                batch_op.create_index(f"uq_{table}_loja_{column}", ["id_loja", column], unique=True)


def downgrade() -> None:
    """Drop the indexes and the key columns."""
    for table, keys in _KEYS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column, _length in keys.values():
                batch_op.drop_index(f"uq_{table}_loja_{column}")
            for column, _length in keys.values():
                batch_op.drop_column(column)


def _store_ignored(conn: Any) -> dict[int, frozenset[str]]:
    integracoes = sa.table("crm_integracoes", sa.column("id_loja", sa.Integer), sa.column("config", sa.JSON))
    out: dict[int, frozenset[str]] = {}
    for loja_id, config in conn.execute(sa.select(integracoes.c.id_loja, integracoes.c.config)):
        try:
            values = ignored_keys(parse_config(config or {}).chaves_ignoradas)
        except ValueError:
            values = frozenset()
        out[loja_id] = out[loja_id] & values if loja_id in out else values
    return out


def _backfill() -> None:
    conn = op.get_bind()
    ignored = _store_ignored(conn)
    for table_name, keys in _KEYS.items():
        fields = list(keys)
        columns = [c for c, _ in keys.values()]
        table = sa.table(
            table_name,
            sa.column("id", sa.Integer),
            sa.column("id_loja", sa.Integer),
            sa.column("deletado_em", sa.DateTime),
            *[sa.column(f, sa.String) for f in fields],
            *[sa.column(c, sa.String) for c in columns],
        )
        taken: set[tuple[int, str, str]] = set()
        query = (
            sa.select(table.c.id, table.c.id_loja, *[table.c[f] for f in fields])
            .where(table.c.deletado_em.is_(None))
            .order_by(table.c.id)
        )
        for row in conn.execute(query).all():
            values: dict[str, Any] = {}
            for field, column in zip(fields, columns, strict=True):
                key = exact_value(field, row._mapping[field], ignored.get(row.id_loja, frozenset()))
                if key is not None and (row.id_loja, column, key) not in taken:
                    taken.add((row.id_loja, column, key))
                    values[column] = key
            if values:
                conn.execute(sa.update(table).where(table.c.id == row.id).values(**values))
