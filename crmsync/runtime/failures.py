"""Failed items (`crm_itens_falhos`): list, retry now, ignore. Shared by the CLI and the API
so both scope by store and answer the same way."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crmsync.db.sync import CrmItemFalho
from crmsync.db.types import utcnow


def item_to_dict(item: CrmItemFalho) -> dict[str, Any]:
    return {
        "id": item.id,
        "id_loja": item.id_loja,
        "id_integracao": item.id_integracao,
        "entity_type": item.entity_type,
        "direcao": item.direcao,
        "entity_id": item.entity_id,
        "external_id": item.external_id,
        "status": item.status,
        "tentativas": item.tentativas,
        "ultimo_erro": item.ultimo_erro,
        "proxima_tentativa": item.proxima_tentativa.isoformat() if item.proxima_tentativa else None,
        "atualizado_em": item.atualizado_em.isoformat() if item.atualizado_em else None,
    }


def list_items(
    session: Session, loja_id: int | None = None, status: str | None = None, limit: int = 100
) -> list[CrmItemFalho]:
    query = select(CrmItemFalho).order_by(CrmItemFalho.id.desc()).limit(max(1, min(limit, 1000)))
    if loja_id is not None:
        query = query.where(CrmItemFalho.id_loja == loja_id)
    if status:
        query = query.where(CrmItemFalho.status == status)
    return list(session.scalars(query))


def get_item(session: Session, item_id: int, loja_id: int | None = None) -> CrmItemFalho:
    item = session.get(CrmItemFalho, item_id)
    if item is None or (loja_id is not None and item.id_loja != loja_id):
        raise LookupError(f"item falho {item_id} não encontrado")
    return item


def retry_item(session: Session, item_id: int, loja_id: int | None = None) -> tuple[CrmItemFalho, bool]:
    """Make the item due now (attempts reset) and queue it; (item, queued)."""
    from crmsync.jobs import enqueue_pull_record, enqueue_push

    item = get_item(session, item_id, loja_id)
    if item.status == "resolvido":
        raise ValueError(f"o item {item_id} já foi resolvido")
    item.status = "pendente"
    item.tentativas = 0
    item.proxima_tentativa = utcnow()
    session.commit()
    if item.direcao == "push" and item.entity_id is not None:
        queued = enqueue_push(item.id_integracao, item.entity_type, item.entity_id, trigger="manual")
    elif item.external_id:
        queued = enqueue_pull_record(item.id_integracao, item.entity_type, item.external_id, trigger="manual")
    else:
        queued = False
    return item, queued


def retry_many(session: Session, loja_id: int | None = None) -> list[tuple[CrmItemFalho, bool]]:
    items = [i for i in list_items(session, loja_id, limit=1000) if i.status in ("pendente", "falhou")]
    return [retry_item(session, i.id, loja_id) for i in items]


def ignore_item(session: Session, item_id: int, loja_id: int | None = None) -> CrmItemFalho:
    """Stop retrying the item; a later change of the record makes it eligible again."""
    item = get_item(session, item_id, loja_id)
    item.status = "ignorado"
    item.proxima_tentativa = None
    session.commit()
    return item
