"""The local (ERP) side: stores and their customers, products and sales.

Table and column names are the spec's Portuguese ones so the existing PHP ERP ("Ecletech")
can read and write the same database. Deletes are soft (`deletado_em`) so a delete can be
propagated and audited; every write sets `modificado_em`, which is how the reconcile pass
finds rows changed by another program.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crmsync.db.base import Base
from crmsync.db.types import KeyString, Money, UTCDateTime, utcnow


class Loja(Base):
    __tablename__ = "crm_lojas"  # crm_ like every table of ours (migration 0003)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    nome: Mapped[str] = mapped_column(String(200))
    api_key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    api_key_prefix: Mapped[str] = mapped_column(String(16))
    ativo: Mapped[bool] = mapped_column(Boolean, default=True)
    cadastrado_em: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class _Timestamps:
    cadastrado_em: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    modificado_em: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow, index=True)
    deletado_em: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Cliente(_Timestamps, Base):
    __tablename__ = "clientes"
    __table_args__ = (
        Index("ix_clientes_loja_email", "id_loja", "email"),
        Index("ix_clientes_loja_cpf", "id_loja", "cpf"),
        Index("ix_clientes_loja_cnpj", "id_loja", "cnpj"),
        Index("uq_clientes_loja_chave_cpf", "id_loja", "chave_cpf", unique=True),
        Index("uq_clientes_loja_chave_cnpj", "id_loja", "chave_cnpj", unique=True),
        Index("uq_clientes_loja_chave_email", "id_loja", "chave_email", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    id_loja: Mapped[int] = mapped_column(ForeignKey("crm_lojas.id"), index=True)
    tipo_pessoa: Mapped[str] = mapped_column(String(2), default="PF")
    nome: Mapped[str] = mapped_column(String(200))
    razao_social: Mapped[str | None] = mapped_column(String(200), nullable=True)
    cpf: Mapped[str | None] = mapped_column(String(11), nullable=True)
    cnpj: Mapped[str | None] = mapped_column(String(14), nullable=True)
    rg: Mapped[str | None] = mapped_column(String(30), nullable=True)
    inscricao_estadual: Mapped[str | None] = mapped_column(String(30), nullable=True)
    data_nascimento: Mapped[date | None] = mapped_column(Date, nullable=True)
    email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    telefone: Mapped[str | None] = mapped_column(String(20), nullable=True)
    celular: Mapped[str | None] = mapped_column(String(20), nullable=True)
    cep: Mapped[str | None] = mapped_column(String(8), nullable=True)
    logradouro: Mapped[str | None] = mapped_column(String(200), nullable=True)
    numero: Mapped[str | None] = mapped_column(String(20), nullable=True)
    complemento: Mapped[str | None] = mapped_column(String(100), nullable=True)
    bairro: Mapped[str | None] = mapped_column(String(100), nullable=True)
    cidade: Mapped[str | None] = mapped_column(String(100), nullable=True)
    estado: Mapped[str | None] = mapped_column(String(2), nullable=True)
    ativo: Mapped[bool] = mapped_column(Boolean, default=True)
    observacoes: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Unique keys of the store's live rows (crmsync.engine.unique_keys): NULL when deleted,
    # empty, a placeholder or one of the store's chaves_ignoradas.
    chave_cpf: Mapped[str | None] = mapped_column(KeyString(11), nullable=True)
    chave_cnpj: Mapped[str | None] = mapped_column(KeyString(14), nullable=True)
    chave_email: Mapped[str | None] = mapped_column(KeyString(254), nullable=True)


class Produto(_Timestamps, Base):
    __tablename__ = "produtos"
    __table_args__ = (
        Index("ix_produtos_loja_codigo", "id_loja", "codigo"),
        Index("ix_produtos_loja_codigo_barra", "id_loja", "codigo_barra"),
        Index("uq_produtos_loja_chave_codigo", "id_loja", "chave_codigo", unique=True),
        Index("uq_produtos_loja_chave_codigo_barra", "id_loja", "chave_codigo_barra", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    id_loja: Mapped[int] = mapped_column(ForeignKey("crm_lojas.id"), index=True)
    nome: Mapped[str] = mapped_column(String(200))
    codigo: Mapped[str | None] = mapped_column(String(60), nullable=True)
    codigo_barra: Mapped[str | None] = mapped_column(String(60), nullable=True)
    descricao: Mapped[str | None] = mapped_column(Text, nullable=True)
    valor_custo: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    valor_venda: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    estoque: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    unidade: Mapped[str | None] = mapped_column(String(10), nullable=True)
    ativo: Mapped[bool] = mapped_column(Boolean, default=True)
    chave_codigo: Mapped[str | None] = mapped_column(KeyString(60), nullable=True)
    chave_codigo_barra: Mapped[str | None] = mapped_column(KeyString(60), nullable=True)


class Venda(_Timestamps, Base):
    __tablename__ = "vendas"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    id_loja: Mapped[int] = mapped_column(ForeignKey("crm_lojas.id"), index=True)
    id_cliente: Mapped[int] = mapped_column(ForeignKey("clientes.id"), index=True)
    codigo: Mapped[str | None] = mapped_column(String(30), nullable=True)
    data: Mapped[date] = mapped_column(Date)
    situacao: Mapped[str] = mapped_column(String(60), default="Em aberto")
    valor_total: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    observacoes: Mapped[str | None] = mapped_column(Text, nullable=True)

    itens: Mapped[list[VendaItem]] = relationship(
        back_populates="venda", cascade="all, delete-orphan", order_by="VendaItem.id"
    )


class VendaItem(Base):
    __tablename__ = "venda_itens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    id_venda: Mapped[int] = mapped_column(ForeignKey("vendas.id", ondelete="CASCADE"), index=True)
    id_produto: Mapped[int] = mapped_column(ForeignKey("produtos.id"), index=True)
    quantidade: Mapped[Decimal] = mapped_column(Money)
    valor_unitario: Mapped[Decimal] = mapped_column(Money)
    desconto: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    valor_total: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))

    venda: Mapped[Venda] = relationship(back_populates="itens")


LOCAL_MODELS: dict[str, type[Cliente] | type[Produto] | type[Venda]] = {
    "cliente": Cliente,
    "produto": Produto,
    "venda": Venda,
}
