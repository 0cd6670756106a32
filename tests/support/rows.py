"""Stores and sync rows as the real services and the engine make them, for tests that need
them in place before they start."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from crmsync.db.local import Loja
from crmsync.db.sync import CrmIntegracao, CrmItemFalho
from crmsync.services.integracoes import create_integracao
from crmsync.services.lojas import create_loja


def gestaoclick_store(
    session: Session, nome: str, base_url: str, access_token: str, secret: str, config: dict[str, Any] | None = None
) -> tuple[Loja, str, CrmIntegracao]:
    """A store (and its API key) with a GestãoClick integration at `base_url`, through the real services."""
    loja, key = create_loja(session, nome)
    connection = {"base_url": base_url, "access_token": access_token, "secret_access_token": secret}
    integ = create_integracao(session, loja_id=loja.id, provider="gestao_click", config=config, **connection)
    return loja, key, integ


def failed_push(
    loja_id: int, integracao_id: int, entity_id: int, status: str, tentativas: int, erro: str
) -> CrmItemFalho:
    """The failed-item row of a local cliente's push, as the engine records it."""
    return CrmItemFalho(
        id_loja=loja_id,
        id_integracao=integracao_id,
        entity_type="cliente",
        direcao="push",
        chave=f"local:{entity_id}",
        entity_id=entity_id,
        status=status,
        tentativas=tentativas,
        ultimo_erro=erro,
    )
