"""The sync side: integrations, links, log, conflicts, duplicate suggestions, cursors, inbox
and failed items. Names follow the spec (`crm_integracoes`, `crm_entity_links`, ...).

A link is unique both ways, (store, provider, entity, local id) and (store, provider, entity,
external id), so a retried create can never produce a second link: the unique violation is
turned into a look-up by the engine.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crmsync.db.base import Base
from crmsync.db.types import UTCDateTime, utcnow


class CrmIntegracao(Base):
    __tablename__ = "crm_integracoes"
    __table_args__ = (UniqueConstraint("id_loja", "provider"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    id_loja: Mapped[int] = mapped_column(ForeignKey("crm_lojas.id"), index=True)
    provider: Mapped[str] = mapped_column(String(40))
    ativo: Mapped[bool] = mapped_column(Boolean, default=True)
    base_url: Mapped[str] = mapped_column(String(300))
    # Fernet token of {"access_token": ..., "secret_access_token": ...}; never returned by the API.
    credenciais: Mapped[str] = mapped_column(Text)
    # Hash of the credentials: integrations of one company share one rate limit and quota.
    credenciais_hash: Mapped[str] = mapped_column(String(64), index=True)
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    webhook_token: Mapped[str] = mapped_column(String(64), unique=True)
    webhook_secret: Mapped[str | None] = mapped_column(String(200), nullable=True)
    cadastrado_em: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    modificado_em: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class _LinkKey:
    """A store's record (`entity_type`, `entity_id`) as one integration's provider knows it:
    the key of a link, and of a create still waiting for its answer (a link whose external
    id is not known yet). Unique per (store, provider, entity, local id) in both tables."""

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    id_loja: Mapped[int] = mapped_column(ForeignKey("crm_lojas.id"), index=True)
    id_integracao: Mapped[int] = mapped_column(ForeignKey("crm_integracoes.id"), index=True)
    provider: Mapped[str] = mapped_column(String(40))
    entity_type: Mapped[str] = mapped_column(String(20))
    entity_id: Mapped[int] = mapped_column(Integer)


class CrmEntityLink(_LinkKey, Base):
    __tablename__ = "crm_entity_links"
    __table_args__ = (
        UniqueConstraint("id_loja", "provider", "entity_type", "entity_id", name="uq_crm_entity_links_local"),
        UniqueConstraint("id_loja", "provider", "entity_type", "external_id", name="uq_crm_entity_links_external"),
    )

    external_id: Mapped[str] = mapped_column(String(64))
    # Canonical values both sides agreed on at the last sync: the base of the three-way merge.
    base_snapshot: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    base_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # Hash of the local canonical record as last synced: differs from the row's hash = dirty.
    local_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # Hash (or modification stamp) of the remote record as last seen: differs = remote changed.
    remote_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    remote_modificado_em: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    status: Mapped[str] = mapped_column(String(20), default="sincronizado")
    sincronizado_em: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    remoto_deletado_em: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    cadastrado_em: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CrmSyncLog(Base):
    __tablename__ = "crm_sync_log"
    __table_args__ = (Index("ix_crm_sync_log_loja_criado", "id_loja", "criado_em"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    id_integracao: Mapped[int | None] = mapped_column(ForeignKey("crm_integracoes.id"), nullable=True)
    id_loja: Mapped[int] = mapped_column(ForeignKey("crm_lojas.id"), index=True)
    run_id: Mapped[str] = mapped_column(String(40), index=True)
    tipo: Mapped[str] = mapped_column(String(20))  # trigger: automatico, manual, cron, webhook, bulk
    direcao: Mapped[str] = mapped_column(String(20))  # push (para_crm), pull (do_crm), conflito
    operacao: Mapped[str] = mapped_column(String(20))  # create, update, link, delete, skip, conflict, ...
    entity_type: Mapped[str] = mapped_column(String(20))
    entity_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    external_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    status: Mapped[str] = mapped_column(String(20))  # sucesso, erro, ignorado, conflito, simulado
    mensagem: Mapped[str | None] = mapped_column(Text, nullable=True)
    duracao_ms: Mapped[int] = mapped_column(Integer, default=0)
    diff: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    criado_em: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class _ReviewItem:
    """What a conflict and a duplicate suggestion share: a local record and a CRM record of
    one store and integration, both as seen then, waiting for a person's decision (who
    decided and when). One declaration, so the two review tables cannot drift apart."""

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    id_loja: Mapped[int] = mapped_column(ForeignKey("crm_lojas.id"))
    id_integracao: Mapped[int] = mapped_column(ForeignKey("crm_integracoes.id"))
    entity_type: Mapped[str] = mapped_column(String(20))
    entity_id: Mapped[int] = mapped_column(Integer)
    external_id: Mapped[str] = mapped_column(String(64))
    dados_local: Mapped[dict[str, Any]] = mapped_column(JSON)
    dados_externo: Mapped[dict[str, Any]] = mapped_column(JSON)
    # conflicts: pendente, resolvido; duplicates: pendente, vinculado, descartado
    status: Mapped[str] = mapped_column(String(20), default="pendente")
    resolvido_por: Mapped[str | None] = mapped_column(String(100), nullable=True)
    resolvido_em: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    criado_em: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CrmConflito(_ReviewItem, Base):
    __tablename__ = "crm_conflitos"
    __table_args__ = (Index("ix_crm_conflitos_loja_status", "id_loja", "status"),)

    # {field: {"base":..., "local":..., "externo":..., "local_em": iso, "externo_em": iso, "motivo": str}}
    campos: Mapped[dict[str, Any]] = mapped_column(JSON)
    resolucao: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class CrmDuplicata(_ReviewItem, Base):
    __tablename__ = "crm_duplicatas"
    __table_args__ = (Index("ix_crm_duplicatas_loja_status", "id_loja", "status"),)

    score: Mapped[float] = mapped_column(Float)
    motivo: Mapped[str | None] = mapped_column(String(200), nullable=True)


class CrmCursor(Base):
    """Pull progress per (integration, entity, direction): the cursor advances only when a run
    completes; the checkpoint (page reached, run id) lets an interrupted run resume."""

    __tablename__ = "crm_cursores"
    __table_args__ = (UniqueConstraint("id_integracao", "entity_type", "direcao"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    id_integracao: Mapped[int] = mapped_column(ForeignKey("crm_integracoes.id"))
    entity_type: Mapped[str] = mapped_column(String(20))
    direcao: Mapped[str] = mapped_column(String(20), default="pull")
    cursor: Mapped[str | None] = mapped_column(String(100), nullable=True)
    checkpoint: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    ultima_execucao_completa: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    atualizado_em: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class CrmWebhookInbox(Base):
    __tablename__ = "crm_webhook_inbox"
    __table_args__ = (UniqueConstraint("id_integracao", "delivery_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    id_integracao: Mapped[int] = mapped_column(ForeignKey("crm_integracoes.id"))
    delivery_id: Mapped[str] = mapped_column(String(100))
    evento: Mapped[str | None] = mapped_column(String(60), nullable=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20), default="recebido")  # recebido, processado, erro
    recebido_em: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    processado_em: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class CrmItemFalho(Base):
    """Items whose sync failed: retried with backoff, then parked until retried or ignored."""

    __tablename__ = "crm_itens_falhos"
    __table_args__ = (
        UniqueConstraint("id_integracao", "entity_type", "direcao", "chave", name="uq_crm_itens_falhos_item"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    id_loja: Mapped[int] = mapped_column(ForeignKey("crm_lojas.id"), index=True)
    id_integracao: Mapped[int] = mapped_column(ForeignKey("crm_integracoes.id"))
    entity_type: Mapped[str] = mapped_column(String(20))
    direcao: Mapped[str] = mapped_column(String(20))
    # "local:<id>" or "externo:<id>": one row per item and direction.
    chave: Mapped[str] = mapped_column(String(80))
    entity_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    external_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # pendente, falhou, ignorado, resolvido
    status: Mapped[str] = mapped_column(String(20), default="pendente")
    tentativas: Mapped[int] = mapped_column(Integer, default=0)
    ultimo_erro: Mapped[str | None] = mapped_column(Text, nullable=True)
    proxima_tentativa: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    atualizado_em: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class CrmCriacaoPendente(_LinkKey, Base):
    """A create sent to the CRM whose answer crmsync has not seen yet: what was sent, per
    field (canonical values), stored durably *before* the CRM is called.

    Why: a create whose answer is lost leaves a record in the CRM that crmsync made but
    does not know. When a later run finds it by its unique keys, this row proves it is ours
    (it holds what was sent), so the link takes the sent values as its base: a field the
    store changed since is a one-sided change and is pushed, not a conflict. Removed when
    the link is made (by the create's answer or by such a match)."""

    __tablename__ = "crm_criacoes_pendentes"
    __table_args__ = (
        UniqueConstraint("id_loja", "provider", "entity_type", "entity_id", name="uq_crm_criacoes_pendentes_local"),
    )

    enviado: Mapped[dict[str, Any]] = mapped_column(JSON)
    enviado_em: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
