"""initial schema: local ERP tables and crm_* sync tables

Revision ID: 0001
Revises:
Create Date: 2026-11-29 07:23:03.824461
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import crmsync.db.types
from crmsync.db import layout

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the store table, the local ERP tables (clientes, produtos, vendas, venda_itens)
    and crm_*.

    Attached to an ERP's database (a schema map configured, or a table of ours already
    taken by the ERP), only crm_* tables are created, the store table as `crm_lojas`
    directly: crmsync never creates a table an ERP could own (see crmsync.db.layout).
    """
    existing = layout.table_names(op.get_bind())
    taken = existing & {layout.LEGACY_STORE_TABLE, *layout.LOCAL_TABLES}
    local = layout.local_tables_configured(op.get_context().config.attributes) and not taken  # type: ignore[union-attr]
    store = layout.LEGACY_STORE_TABLE if local else layout.STORE_TABLE
    op.create_table(
        store,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("nome", sa.String(length=200), nullable=False),
        sa.Column("api_key_hash", sa.String(length=64), nullable=False),
        sa.Column("api_key_prefix", sa.String(length=16), nullable=False),
        sa.Column("ativo", sa.Boolean(), nullable=False),
        sa.Column("cadastrado_em", crmsync.db.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{store}")),
        sa.UniqueConstraint("api_key_hash", name=op.f(f"uq_{store}_api_key_hash")),
    )
    op.create_table(
        "crm_integracoes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("id_loja", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=40), nullable=False),
        sa.Column("ativo", sa.Boolean(), nullable=False),
        sa.Column("base_url", sa.String(length=300), nullable=False),
        sa.Column("credenciais", sa.Text(), nullable=False),
        sa.Column("credenciais_hash", sa.String(length=64), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("webhook_token", sa.String(length=64), nullable=False),
        sa.Column("webhook_secret", sa.String(length=200), nullable=True),
        sa.Column("cadastrado_em", crmsync.db.types.UTCDateTime(), nullable=False),
        sa.Column("modificado_em", crmsync.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["id_loja"], [f"{store}.id"], name=op.f(f"fk_crm_integracoes_id_loja_{store}")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crm_integracoes")),
        sa.UniqueConstraint("id_loja", "provider", name=op.f("uq_crm_integracoes_id_loja_provider")),
        sa.UniqueConstraint("webhook_token", name=op.f("uq_crm_integracoes_webhook_token")),
    )
    with op.batch_alter_table("crm_integracoes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_crm_integracoes_credenciais_hash"), ["credenciais_hash"], unique=False)
        batch_op.create_index(batch_op.f("ix_crm_integracoes_id_loja"), ["id_loja"], unique=False)

    op.create_table(
        "crm_conflitos",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("id_loja", sa.Integer(), nullable=False),
        sa.Column("id_integracao", sa.Integer(), nullable=False),
        sa.Column("entity_type", sa.String(length=20), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=64), nullable=False),
        sa.Column("campos", sa.JSON(), nullable=False),
        sa.Column("dados_local", sa.JSON(), nullable=False),
        sa.Column("dados_externo", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("resolucao", sa.JSON(), nullable=True),
        sa.Column("resolvido_por", sa.String(length=100), nullable=True),
        sa.Column("resolvido_em", crmsync.db.types.UTCDateTime(), nullable=True),
        sa.Column("criado_em", crmsync.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["id_integracao"],
            ["crm_integracoes.id"],
            name=op.f("fk_crm_conflitos_id_integracao_crm_integracoes"),
        ),
        sa.ForeignKeyConstraint(["id_loja"], [f"{store}.id"], name=op.f(f"fk_crm_conflitos_id_loja_{store}")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crm_conflitos")),
    )
    with op.batch_alter_table("crm_conflitos", schema=None) as batch_op:
        batch_op.create_index("ix_crm_conflitos_loja_status", ["id_loja", "status"], unique=False)

    op.create_table(
        "crm_cursores",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("id_integracao", sa.Integer(), nullable=False),
        sa.Column("entity_type", sa.String(length=20), nullable=False),
        sa.Column("direcao", sa.String(length=20), nullable=False),
        sa.Column("cursor", sa.String(length=100), nullable=True),
        sa.Column("checkpoint", sa.JSON(), nullable=True),
        sa.Column("ultima_execucao_completa", crmsync.db.types.UTCDateTime(), nullable=True),
        sa.Column("atualizado_em", crmsync.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["id_integracao"],
            ["crm_integracoes.id"],
            name=op.f("fk_crm_cursores_id_integracao_crm_integracoes"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crm_cursores")),
        sa.UniqueConstraint(
            "id_integracao",
            "entity_type",
            "direcao",
            name=op.f("uq_crm_cursores_id_integracao_entity_type_direcao"),
        ),
    )
    op.create_table(
        "crm_duplicatas",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("id_loja", sa.Integer(), nullable=False),
        sa.Column("id_integracao", sa.Integer(), nullable=False),
        sa.Column("entity_type", sa.String(length=20), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=64), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("motivo", sa.String(length=200), nullable=True),
        sa.Column("dados_local", sa.JSON(), nullable=False),
        sa.Column("dados_externo", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("resolvido_por", sa.String(length=100), nullable=True),
        sa.Column("resolvido_em", crmsync.db.types.UTCDateTime(), nullable=True),
        sa.Column("criado_em", crmsync.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["id_integracao"],
            ["crm_integracoes.id"],
            name=op.f("fk_crm_duplicatas_id_integracao_crm_integracoes"),
        ),
        sa.ForeignKeyConstraint(["id_loja"], [f"{store}.id"], name=op.f(f"fk_crm_duplicatas_id_loja_{store}")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crm_duplicatas")),
    )
    with op.batch_alter_table("crm_duplicatas", schema=None) as batch_op:
        batch_op.create_index("ix_crm_duplicatas_loja_status", ["id_loja", "status"], unique=False)

    op.create_table(
        "crm_entity_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("id_loja", sa.Integer(), nullable=False),
        sa.Column("id_integracao", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=40), nullable=False),
        sa.Column("entity_type", sa.String(length=20), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=64), nullable=False),
        sa.Column("base_snapshot", sa.JSON(), nullable=True),
        sa.Column("base_hash", sa.String(length=64), nullable=True),
        sa.Column("local_hash", sa.String(length=64), nullable=True),
        sa.Column("remote_version", sa.String(length=64), nullable=True),
        sa.Column("remote_modificado_em", crmsync.db.types.UTCDateTime(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("sincronizado_em", crmsync.db.types.UTCDateTime(), nullable=False),
        sa.Column("remoto_deletado_em", crmsync.db.types.UTCDateTime(), nullable=True),
        sa.Column("cadastrado_em", crmsync.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["id_integracao"],
            ["crm_integracoes.id"],
            name=op.f("fk_crm_entity_links_id_integracao_crm_integracoes"),
        ),
        sa.ForeignKeyConstraint(["id_loja"], [f"{store}.id"], name=op.f(f"fk_crm_entity_links_id_loja_{store}")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crm_entity_links")),
        sa.UniqueConstraint("id_loja", "provider", "entity_type", "entity_id", name="uq_crm_entity_links_local"),
        sa.UniqueConstraint("id_loja", "provider", "entity_type", "external_id", name="uq_crm_entity_links_external"),
    )
    with op.batch_alter_table("crm_entity_links", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_crm_entity_links_id_integracao"), ["id_integracao"], unique=False)
        batch_op.create_index(batch_op.f("ix_crm_entity_links_id_loja"), ["id_loja"], unique=False)

    op.create_table(
        "crm_itens_falhos",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("id_loja", sa.Integer(), nullable=False),
        sa.Column("id_integracao", sa.Integer(), nullable=False),
        sa.Column("entity_type", sa.String(length=20), nullable=False),
        sa.Column("direcao", sa.String(length=20), nullable=False),
        sa.Column("chave", sa.String(length=80), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=True),
        sa.Column("external_id", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("tentativas", sa.Integer(), nullable=False),
        sa.Column("ultimo_erro", sa.Text(), nullable=True),
        sa.Column("proxima_tentativa", crmsync.db.types.UTCDateTime(), nullable=True),
        sa.Column("atualizado_em", crmsync.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["id_integracao"],
            ["crm_integracoes.id"],
            name=op.f("fk_crm_itens_falhos_id_integracao_crm_integracoes"),
        ),
        sa.ForeignKeyConstraint(["id_loja"], [f"{store}.id"], name=op.f(f"fk_crm_itens_falhos_id_loja_{store}")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crm_itens_falhos")),
        sa.UniqueConstraint("id_integracao", "entity_type", "direcao", "chave", name="uq_crm_itens_falhos_item"),
    )
    with op.batch_alter_table("crm_itens_falhos", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_crm_itens_falhos_id_loja"), ["id_loja"], unique=False)

    op.create_table(
        "crm_sync_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("id_integracao", sa.Integer(), nullable=True),
        sa.Column("id_loja", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.String(length=40), nullable=False),
        sa.Column("tipo", sa.String(length=20), nullable=False),
        sa.Column("direcao", sa.String(length=20), nullable=False),
        sa.Column("operacao", sa.String(length=20), nullable=False),
        sa.Column("entity_type", sa.String(length=20), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=True),
        sa.Column("external_id", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("mensagem", sa.Text(), nullable=True),
        sa.Column("duracao_ms", sa.Integer(), nullable=False),
        sa.Column("diff", sa.JSON(), nullable=True),
        sa.Column("criado_em", crmsync.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["id_integracao"],
            ["crm_integracoes.id"],
            name=op.f("fk_crm_sync_log_id_integracao_crm_integracoes"),
        ),
        sa.ForeignKeyConstraint(["id_loja"], [f"{store}.id"], name=op.f(f"fk_crm_sync_log_id_loja_{store}")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crm_sync_log")),
    )
    with op.batch_alter_table("crm_sync_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_crm_sync_log_id_loja"), ["id_loja"], unique=False)
        batch_op.create_index("ix_crm_sync_log_loja_criado", ["id_loja", "criado_em"], unique=False)
        batch_op.create_index(batch_op.f("ix_crm_sync_log_run_id"), ["run_id"], unique=False)

    op.create_table(
        "crm_webhook_inbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("id_integracao", sa.Integer(), nullable=False),
        sa.Column("delivery_id", sa.String(length=100), nullable=False),
        sa.Column("evento", sa.String(length=60), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("recebido_em", crmsync.db.types.UTCDateTime(), nullable=False),
        sa.Column("processado_em", crmsync.db.types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["id_integracao"],
            ["crm_integracoes.id"],
            name=op.f("fk_crm_webhook_inbox_id_integracao_crm_integracoes"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crm_webhook_inbox")),
        sa.UniqueConstraint(
            "id_integracao", "delivery_id", name=op.f("uq_crm_webhook_inbox_id_integracao_delivery_id")
        ),
    )
    if local:
        _create_local_tables(store)


def _create_local_tables(store: str) -> None:
    """The built-in local ERP tables, for the default schema map only."""
    op.create_table(
        "clientes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("id_loja", sa.Integer(), nullable=False),
        sa.Column("tipo_pessoa", sa.String(length=2), nullable=False),
        sa.Column("nome", sa.String(length=200), nullable=False),
        sa.Column("razao_social", sa.String(length=200), nullable=True),
        sa.Column("cpf", sa.String(length=11), nullable=True),
        sa.Column("cnpj", sa.String(length=14), nullable=True),
        sa.Column("rg", sa.String(length=30), nullable=True),
        sa.Column("inscricao_estadual", sa.String(length=30), nullable=True),
        sa.Column("data_nascimento", sa.Date(), nullable=True),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("telefone", sa.String(length=20), nullable=True),
        sa.Column("celular", sa.String(length=20), nullable=True),
        sa.Column("cep", sa.String(length=8), nullable=True),
        sa.Column("logradouro", sa.String(length=200), nullable=True),
        sa.Column("numero", sa.String(length=20), nullable=True),
        sa.Column("complemento", sa.String(length=100), nullable=True),
        sa.Column("bairro", sa.String(length=100), nullable=True),
        sa.Column("cidade", sa.String(length=100), nullable=True),
        sa.Column("estado", sa.String(length=2), nullable=True),
        sa.Column("ativo", sa.Boolean(), nullable=False),
        sa.Column("observacoes", sa.Text(), nullable=True),
        sa.Column("cadastrado_em", crmsync.db.types.UTCDateTime(), nullable=False),
        sa.Column("modificado_em", crmsync.db.types.UTCDateTime(), nullable=False),
        sa.Column("deletado_em", crmsync.db.types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["id_loja"], [f"{store}.id"], name=op.f(f"fk_clientes_id_loja_{store}")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clientes")),
    )
    with op.batch_alter_table("clientes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_clientes_id_loja"), ["id_loja"], unique=False)
        batch_op.create_index("ix_clientes_loja_cnpj", ["id_loja", "cnpj"], unique=False)
        batch_op.create_index("ix_clientes_loja_cpf", ["id_loja", "cpf"], unique=False)
        batch_op.create_index("ix_clientes_loja_email", ["id_loja", "email"], unique=False)
        batch_op.create_index(batch_op.f("ix_clientes_modificado_em"), ["modificado_em"], unique=False)

    op.create_table(
        "produtos",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("id_loja", sa.Integer(), nullable=False),
        sa.Column("nome", sa.String(length=200), nullable=False),
        sa.Column("codigo", sa.String(length=60), nullable=True),
        sa.Column("codigo_barra", sa.String(length=60), nullable=True),
        sa.Column("descricao", sa.Text(), nullable=True),
        sa.Column("valor_custo", crmsync.db.types.Money(), nullable=False),
        sa.Column("valor_venda", crmsync.db.types.Money(), nullable=False),
        sa.Column("estoque", crmsync.db.types.Money(), nullable=False),
        sa.Column("unidade", sa.String(length=10), nullable=True),
        sa.Column("ativo", sa.Boolean(), nullable=False),
        sa.Column("cadastrado_em", crmsync.db.types.UTCDateTime(), nullable=False),
        sa.Column("modificado_em", crmsync.db.types.UTCDateTime(), nullable=False),
        sa.Column("deletado_em", crmsync.db.types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["id_loja"], [f"{store}.id"], name=op.f(f"fk_produtos_id_loja_{store}")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_produtos")),
    )
    with op.batch_alter_table("produtos", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_produtos_id_loja"), ["id_loja"], unique=False)
        batch_op.create_index("ix_produtos_loja_codigo", ["id_loja", "codigo"], unique=False)
        batch_op.create_index("ix_produtos_loja_codigo_barra", ["id_loja", "codigo_barra"], unique=False)
        batch_op.create_index(batch_op.f("ix_produtos_modificado_em"), ["modificado_em"], unique=False)

    op.create_table(
        "vendas",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("id_loja", sa.Integer(), nullable=False),
        sa.Column("id_cliente", sa.Integer(), nullable=False),
        sa.Column("codigo", sa.String(length=30), nullable=True),
        sa.Column("data", sa.Date(), nullable=False),
        sa.Column("situacao", sa.String(length=60), nullable=False),
        sa.Column("valor_total", crmsync.db.types.Money(), nullable=False),
        sa.Column("observacoes", sa.Text(), nullable=True),
        sa.Column("cadastrado_em", crmsync.db.types.UTCDateTime(), nullable=False),
        sa.Column("modificado_em", crmsync.db.types.UTCDateTime(), nullable=False),
        sa.Column("deletado_em", crmsync.db.types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["id_cliente"], ["clientes.id"], name=op.f("fk_vendas_id_cliente_clientes")),
        sa.ForeignKeyConstraint(["id_loja"], [f"{store}.id"], name=op.f(f"fk_vendas_id_loja_{store}")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vendas")),
    )
    with op.batch_alter_table("vendas", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_vendas_id_cliente"), ["id_cliente"], unique=False)
        batch_op.create_index(batch_op.f("ix_vendas_id_loja"), ["id_loja"], unique=False)
        batch_op.create_index(batch_op.f("ix_vendas_modificado_em"), ["modificado_em"], unique=False)

    op.create_table(
        "venda_itens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("id_venda", sa.Integer(), nullable=False),
        sa.Column("id_produto", sa.Integer(), nullable=False),
        sa.Column("quantidade", crmsync.db.types.Money(), nullable=False),
        sa.Column("valor_unitario", crmsync.db.types.Money(), nullable=False),
        sa.Column("desconto", crmsync.db.types.Money(), nullable=False),
        sa.Column("valor_total", crmsync.db.types.Money(), nullable=False),
        sa.ForeignKeyConstraint(["id_produto"], ["produtos.id"], name=op.f("fk_venda_itens_id_produto_produtos")),
        sa.ForeignKeyConstraint(
            ["id_venda"], ["vendas.id"], name=op.f("fk_venda_itens_id_venda_vendas"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_venda_itens")),
    )
    with op.batch_alter_table("venda_itens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_venda_itens_id_produto"), ["id_produto"], unique=False)
        batch_op.create_index(batch_op.f("ix_venda_itens_id_venda"), ["id_venda"], unique=False)


def downgrade() -> None:
    """Drop every table, children first; their indexes and constraints go with them
    (MariaDB refuses to drop an index a foreign key still needs, so no separate drop_index).

    The local tables only when they are ours (crmsync.db.layout.owns_local_tables decides
    from the database, not from today's settings): an ERP's `clientes` is never dropped."""
    bind = op.get_bind()
    existing = layout.table_names(bind)
    store = layout.STORE_TABLE if layout.STORE_TABLE in existing else layout.LEGACY_STORE_TABLE
    local = layout.owns_local_tables(bind, store)
    if local:
        op.drop_table("venda_itens")
        op.drop_table("vendas")
    op.drop_table("crm_webhook_inbox")
    op.drop_table("crm_sync_log")
    op.drop_table("crm_itens_falhos")
    op.drop_table("crm_entity_links")
    op.drop_table("crm_duplicatas")
    op.drop_table("crm_cursores")
    op.drop_table("crm_conflitos")
    if local:
        op.drop_table("produtos")
    op.drop_table("crm_integracoes")
    if local:
        op.drop_table("clientes")
    op.drop_table(store)
