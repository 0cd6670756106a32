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

Only our own built-in `clientes`/`produtos` get key columns (crmsync.db.layout decides from
the database itself): attached to an ERP's database, whose tables are never altered, this
revision does nothing, and unique keys are checked in code. At this revision our store
table is still `lojas` (0003 renames it); the check accepts either name.

Frozen history: the keys are spelled by a copy, below, of the rules the application had
when this revision was written (`crmsync.matching.exact_value` and `ignored_keys`, and the
config's `chaves_ignoradas`), not by importing today's code, which may change after it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

import crmsync.db.types
from crmsync.db import layout

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KEYS: dict[str, dict[str, tuple[str, int]]] = {
    "clientes": {"cpf": ("chave_cpf", 11), "cnpj": ("chave_cnpj", 14), "email": ("chave_email", 254)},
    "produtos": {"codigo": ("chave_codigo", 60), "codigo_barra": ("chave_codigo_barra", 60)},
}


def _ours() -> bool:
    """Whether this database's clientes/produtos are crmsync's own (never an ERP's)."""
    bind = op.get_bind()
    existing = layout.table_names(bind)
    store = layout.STORE_TABLE if layout.STORE_TABLE in existing else layout.LEGACY_STORE_TABLE
    return layout.owns_local_tables(bind, store)


def upgrade() -> None:
    """Add the key columns, key the existing rows, then create the unique indexes."""
    if not _ours():
        return
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
    if not _ours():
        return
    for table, keys in _KEYS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column, _length in keys.values():
                batch_op.drop_index(f"uq_{table}_loja_{column}")
            for column, _length in keys.values():
                batch_op.drop_column(column)


# --- the key spelling rules as of this revision (crmsync.matching, 2026-12-06) -----------

# What shop assistants type in the e-mail field of a customer who has none: never a key.
_PLACEHOLDER_EMAIL_NAMES = frozenset(
    {
        "naotem", "naotenho", "naopossui", "naopossuiemail", "naotememail", "nao", "naoha",
        "naoinformado", "naoinformou", "naoinformar", "naoquis", "naoquer", "naodeu", "sem",
        "sememail", "semmail", "semcadastro", "nenhum", "nenhuma", "none", "null", "nulo", "na",
        "nt", "x", "xx", "xxx", "xxxx", "teste", "test", "email", "consumidor", "consumidorfinal",
    }
)  # fmt: skip


def _spelled(key: str, value: Any) -> str | None:
    """The spelling a key is compared in: e-mail lower case, documents digits only."""
    if value is None:
        return None
    text = str(value).strip()
    if key == "email":
        text = text.lower()
    elif key in ("cpf", "cnpj"):
        text = "".join(ch for ch in text if ch.isdigit())
    return text or None


def _placeholder(key: str, value: str) -> bool:
    if key != "email":
        return False
    name = value.partition("@")[0]
    return "".join(ch for ch in name if "a" <= ch <= "z") in _PLACEHOLDER_EMAIL_NAMES


def _key_value(key: str, value: Any, ignored: frozenset[str]) -> str | None:
    """The value a row is keyed on; None when empty, a placeholder or one of the store's own."""
    text = _spelled(key, value)
    if text is None or text in ignored or _placeholder(key, text):
        return None
    return text


def _ignored_values(config: Any) -> frozenset[str]:
    """A config's `chaves_ignoradas` (alias `ignored_keys`, possibly inside the spec's
    `sync_config` wrapper) in every spelling they are compared in; none when unreadable."""
    if not isinstance(config, dict):
        return frozenset()
    inner = config.get("sync_config")
    merged = {**config, **inner} if isinstance(inner, dict) else config
    values = merged.get("chaves_ignoradas", merged.get("ignored_keys")) or []
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        return frozenset()
    spelled = (_spelled(key, value) for value in values for key in ("email", "cpf", "codigo"))
    return frozenset(s for s in spelled if s is not None)


def _store_ignored(conn: Any) -> dict[int, frozenset[str]]:
    integracoes = sa.table("crm_integracoes", sa.column("id_loja", sa.Integer), sa.column("config", sa.JSON))
    out: dict[int, frozenset[str]] = {}
    for loja_id, config in conn.execute(sa.select(integracoes.c.id_loja, integracoes.c.config)):
        values = _ignored_values(config or {})
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
                key = _key_value(field, row._mapping[field], ignored.get(row.id_loja, frozenset()))
                if key is not None and (row.id_loja, column, key) not in taken:
                    taken.add((row.id_loja, column, key))
                    values[column] = key
            if values:
                conn.execute(sa.update(table).where(table.c.id == row.id).values(**values))
