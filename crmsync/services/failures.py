"""Failed items (`crm_itens_falhos`): list, retry now, ignore. Shared by the CLI, the API and
the console so all scope by store and answer the same way; the ledger itself (queries,
serialisation, episode rules) is `crmsync.engine.ledger`."""

from __future__ import annotations

from sqlalchemy.orm import Session

from crmsync.db.sync import CrmItemFalho
from crmsync.engine.ledger import get_item, ignore_item, item_to_dict, list_items, make_due_now
from crmsync.runtime.jobs import enqueue_pull_record, enqueue_push

__all__ = ["get_item", "ignore_item", "item_to_dict", "list_items", "retry_item", "retry_many"]


def retry_item(session: Session, item_id: int, loja_id: int | None = None) -> tuple[CrmItemFalho, bool]:
    """Make the item due now (attempts reset) and queue it; (item, queued)."""
    item = get_item(session, item_id, loja_id)
    make_due_now(session, item)
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
