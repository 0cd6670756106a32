"""Which local rows changed since their link: the one query the reconcile pass and the status
page share.

A row needs a push when it was never linked (and is not deleted) or was modified after its
link was last synced. The reconcile pass then compares content hashes (a row changed by the
PHP ERP straight in the database may not touch `modificado_em`, so its full pass drops the
time filter); the status page only counts, without hashing.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, or_

from crmsync.db.sync import CrmEntityLink


def link_join(model: Any, provider: str, entity_type: str) -> ColumnElement[bool]:
    """The ON clause joining a local model's rows to their links with `provider`."""
    return and_(
        CrmEntityLink.id_loja == model.id_loja,
        CrmEntityLink.provider == provider,
        CrmEntityLink.entity_type == entity_type,
        CrmEntityLink.entity_id == model.id,
    )


def may_need_push(model: Any) -> ColumnElement[bool]:
    """Linked rows, and unlinked rows that are not deleted (a deleted row never synced has
    nothing to send)."""
    return or_(CrmEntityLink.id.is_not(None), model.deletado_em.is_(None))


def changed_since_link(model: Any) -> ColumnElement[bool]:
    """Rows never synced (not deleted) or modified after their link's last sync."""
    return and_(
        may_need_push(model),
        or_(CrmEntityLink.id.is_(None), model.modificado_em > CrmEntityLink.sincronizado_em),
    )
