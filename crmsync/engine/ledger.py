"""The failed-item ledger (`crm_itens_falhos`): its one owner.

Every write of an item's *episode* goes through here, so the rules live once: the item's key
(`local:<id>` for a push, `externo:<id>` for a pull), one limit for the error text, a failure
after `resolvido` opening a new episode, an `ignorado` item left alone, a success closing the
open episode. Two writers use them: `FailedItems`, the engine's per-run bookkeeping (counts
the attempt of an item it caught), and `note_failure`/`note_success`, the runtime jobs'
scheduling of the next attempt (backoff, parking as `falhou`). Readers (the CLI, the API, the
console, the status page, reconcile, retries) query and serialise items through the functions
below.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import bindparam, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crmsync.db.sync import CrmItemFalho
from crmsync.db.types import utcnow

__all__ = [
    "ERROR_TEXT_LIMIT",
    "OPEN_FAILED_STATUSES",
    "FailedItems",
    "RetryPolicy",
    "clip_error",
    "count_by_status",
    "get_item",
    "ignore_item",
    "item_key",
    "item_to_dict",
    "list_items",
    "note_failure",
    "note_success",
]

ERROR_TEXT_LIMIT = 2000  # `ultimo_erro` keeps this much of an error's text (one limit for every writer)
OPEN_FAILED_STATUSES = ("pendente", "falhou")  # items a person may still act on


class RetryPolicy(Protocol):
    """When failed items are tried again (the runtime's options satisfy it)."""

    retry_base_seconds: float
    retry_max_seconds: float
    retry_max_attempts: int


def item_key(direcao: str, entity_id: int | None, external_id: str | None) -> str:
    """The item's key: the local row for a push, the external record for a pull."""
    return f"local:{entity_id}" if direcao == "push" else f"externo:{external_id}"


def clip_error(error: str) -> str:
    return error[:ERROR_TEXT_LIMIT]


def find_item(session: Session, integracao_id: int, entity_type: str, direcao: str, chave: str) -> CrmItemFalho | None:
    return session.scalars(
        select(CrmItemFalho).where(
            CrmItemFalho.id_integracao == integracao_id,
            CrmItemFalho.entity_type == entity_type,
            CrmItemFalho.direcao == direcao,
            CrmItemFalho.chave == chave,
        )
    ).first()


class FailedItems:
    """`crm_itens_falhos`: one row per (integration, entity, direction, item).

    An item's row lives through *episodes*. A failure opens an episode (`pendente`,
    `tentativas` = 1) or counts one more attempt of the open one; a success closes it
    (`resolvido`). A failure after `resolvido` starts a new episode at 1: attempts of
    episodes already resolved say nothing about this one (else an item that failed seven
    times long ago would be parked after one new failure).

    `ignorado` (a person said to leave the item alone) is kept through new failures while
    the record is unchanged: a failure re-opens it (`pendente`, `tentativas` = 1) only when
    the record was modified after the row was last touched (`changed_at` > `atualizado_em`:
    the local row's `modificado_em` for a push, the remote version's modification time for a
    pull). Failures of an unchanged ignored item leave the row as it is, so `atualizado_em`
    keeps meaning "ignored at" (the runtime's sweep skips rows not modified since). A
    successful sync of the item ends the ignored episode too (`resolvido`).
    """

    OPEN = ("pendente", "falhou", "ignorado")  # statuses a success closes

    def __init__(self, *, id_integracao: int, id_loja: int) -> None:
        self.id_integracao = id_integracao
        self.id_loja = id_loja
        self._pending: dict[tuple[str, str], set[str]] = {}

    def pending_keys(self, session: Session, entity_type: str, direcao: str) -> set[str]:
        key = (entity_type, direcao)
        if key not in self._pending:
            rows = session.scalars(
                select(CrmItemFalho.chave).where(
                    CrmItemFalho.id_integracao == self.id_integracao,
                    CrmItemFalho.entity_type == entity_type,
                    CrmItemFalho.direcao == direcao,
                    CrmItemFalho.status.in_(self.OPEN),
                )
            )
            self._pending[key] = set(rows)
        return self._pending[key]

    def failed(
        self,
        session: Session,
        *,
        entity_type: str,
        direcao: str,
        entity_id: int | None,
        external_id: str | None,
        error: str,
        changed_at: datetime | None = None,
    ) -> None:
        chave = item_key(direcao, entity_id, external_id)
        row = find_item(session, self.id_integracao, entity_type, direcao, chave)
        if row is None:
            row = _new_item(session, self.id_loja, self.id_integracao, entity_type, direcao, chave)
        elif row.status == "ignorado":
            if not _changed_after(changed_at, row.atualizado_em):
                self.pending_keys(session, entity_type, direcao).add(chave)
                return  # still ignored: the record is the one a person chose to leave alone
            row.tentativas = 0  # changed since it was ignored: a new episode
        elif row.status == "resolvido":
            row.tentativas = 0  # a new episode: earlier, resolved attempts do not count
        row.entity_id = entity_id if entity_id is not None else row.entity_id
        row.external_id = external_id if external_id is not None else row.external_id
        row.status = "pendente"
        row.tentativas = (row.tentativas or 0) + 1
        row.ultimo_erro = clip_error(error)
        session.flush()
        self.pending_keys(session, entity_type, direcao).add(chave)

    def succeeded(
        self, session: Session, *, entity_type: str, direcao: str, entity_id: int | None, external_id: str | None
    ) -> None:
        chave = item_key(direcao, entity_id, external_id)
        pending = self.pending_keys(session, entity_type, direcao)
        if chave not in pending:
            return
        row = find_item(session, self.id_integracao, entity_type, direcao, chave)
        if row is not None:
            row.status = "resolvido"
            row.ultimo_erro = None
            row.proxima_tentativa = None
        pending.discard(chave)


def _new_item(
    session: Session, id_loja: int, id_integracao: int, entity_type: str, direcao: str, chave: str, **values: Any
) -> CrmItemFalho:
    """A failed item seen for the first time (no attempt counted yet), added to the session."""
    item = CrmItemFalho(
        id_loja=id_loja, id_integracao=id_integracao, entity_type=entity_type, direcao=direcao, chave=chave, **values
    )
    item.tentativas = 0
    session.add(item)
    return item


def _changed_after(changed_at: datetime | None, since: datetime | None) -> bool:
    """Whether a record's modification time is after `since` (unknown times: not changed)."""
    if changed_at is None or since is None:
        return False
    if changed_at.tzinfo is None:
        changed_at = changed_at.replace(tzinfo=UTC)
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return changed_at > since


# ----------------------------------------------------------------------------- runtime writer


def backoff_seconds(policy: RetryPolicy, attempts: int) -> float:
    return min(policy.retry_max_seconds, policy.retry_base_seconds * (2 ** max(0, attempts - 1)))


def note_failure(
    session: Session,
    integ: Any,
    entity_type: str,
    direcao: str,
    *,
    entity_id: int | None,
    external_id: str | None,
    error: str,
    opts: RetryPolicy,
    retry_after: float | None = None,
    engine_counted: bool = False,
    quota: bool = False,
) -> CrmItemFalho:
    """Schedule the next attempt of a failed item, or park it as `falhou` after the last one.

    `integ` is the integration (its `id` and `id_loja`). The engine itself records item
    failures it catches (it counts the attempt and keeps the error: `engine_counted`);
    failures that escaped it are counted here. A refusal by the daily-quota guard (the
    engine's `quota_exhausted` flag, or `RateLimitedError`) is not the item's fault: it is
    not counted, and the item waits for the provider's next day.

    Episodes, as in `FailedItems`: a failure after `resolvido` starts a new episode (the
    attempts of resolved episodes do not count). An `ignorado` item stays ignored and
    untouched (its `atualizado_em` keeps meaning "ignored at"); only the engine, which knows
    when the record was modified, re-opens it when the record changed since.
    """
    chave = item_key(direcao, entity_id, external_id)
    item: CrmItemFalho | None = None
    for _ in range(2):
        item = find_item(session, integ.id, entity_type, direcao, chave)
        if item is None:
            item = _new_item(
                session,
                integ.id_loja,
                integ.id,
                entity_type,
                direcao,
                chave,
                entity_id=entity_id,
                external_id=external_id,
                status="pendente",
            )
        if item.status == "resolvido" and not engine_counted:
            item.tentativas = 0  # a new episode (the engine resets it itself when it counted)
        if item.status != "ignorado":
            item.ultimo_erro = clip_error(error)
        if entity_id is not None:
            item.entity_id = entity_id
        if external_id is not None:
            item.external_id = str(external_id)
        if item.status == "ignorado":
            pass  # a person said to leave it alone
        elif quota:
            if engine_counted and (item.tentativas or 0) > 0:
                item.tentativas -= 1
            item.status = "pendente"
            item.proxima_tentativa = utcnow() + timedelta(seconds=retry_after or 3600.0)
        else:
            if not engine_counted:
                item.tentativas = (item.tentativas or 0) + 1
            if item.tentativas >= opts.retry_max_attempts:
                item.status = "falhou"
                item.proxima_tentativa = None
            else:
                item.status = "pendente"
                wait = retry_after if retry_after is not None else backoff_seconds(opts, item.tentativas or 1)
                item.proxima_tentativa = utcnow() + timedelta(seconds=wait)
        try:
            session.commit()
            return item
        except IntegrityError:  # another job inserted the same item a moment ago
            session.rollback()
    raise RuntimeError(f"item falho {chave} não gravado")


# A job's success closes its item's open episode: one statement, built once (every job runs it)
_OPEN_ITEMS = select(CrmItemFalho).where(
    CrmItemFalho.id_integracao == bindparam("integracao"),
    CrmItemFalho.entity_type == bindparam("entity"),
    CrmItemFalho.direcao == bindparam("direcao"),
    CrmItemFalho.chave.in_(bindparam("keys", expanding=True)),
    CrmItemFalho.status.in_(FailedItems.OPEN),
)


def note_success(
    session: Session,
    integ: Any,
    entity_type: str,
    direcao: str,
    *,
    entity_id: int | None = None,
    external_id: str | None = None,
    clear_error: bool = False,
) -> None:
    """Close the item's open episode (a success also ends an ignored one: a later failure is
    a new problem); ``clear_error``: forget its last error too (as the engine's
    :meth:`FailedItems.succeeded` does, when the caller closes the item in its stead)."""
    keys = []
    if direcao == "push" and entity_id is not None:
        keys.append(item_key("push", entity_id, None))
    if external_id is not None:
        keys.append(f"externo:{external_id}")
    if not keys:
        return
    items = session.scalars(
        _OPEN_ITEMS, {"integracao": integ.id, "entity": entity_type, "direcao": direcao, "keys": keys}
    ).all()
    for item in items:
        item.status = "resolvido"
        item.proxima_tentativa = None
        if clear_error:
            item.ultimo_erro = None
    if items:
        session.commit()


# ----------------------------------------------------------------------------- readers


def item_to_dict(item: CrmItemFalho, *, for_display: bool = False) -> dict[str, Any]:
    """The item as JSON (times in ISO 8601); `for_display` keeps the times as datetimes for a
    template to format and adds the item's key."""
    if for_display:
        return {
            "id": item.id,
            "id_integracao": item.id_integracao,
            "entity_type": item.entity_type,
            "direcao": item.direcao,
            "chave": item.chave,
            "entity_id": item.entity_id,
            "external_id": item.external_id,
            "status": item.status,
            "tentativas": item.tentativas,
            "ultimo_erro": item.ultimo_erro,
            "proxima_tentativa": item.proxima_tentativa,
            "atualizado_em": item.atualizado_em,
        }
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
    """Newest first, optionally one store's and one status."""
    query = select(CrmItemFalho).order_by(CrmItemFalho.id.desc()).limit(max(1, min(limit, 1000)))
    if loja_id is not None:
        query = query.where(CrmItemFalho.id_loja == loja_id)
    if status:
        query = query.where(CrmItemFalho.status == status)
    return list(session.scalars(query))


def open_items(session: Session, loja_id: int, *, limit: int = 50) -> list[CrmItemFalho]:
    """A store's items still waiting for a retry or a person, most recently touched first."""
    return list(
        session.scalars(
            select(CrmItemFalho)
            .where(CrmItemFalho.id_loja == loja_id, CrmItemFalho.status.in_(OPEN_FAILED_STATUSES))
            .order_by(CrmItemFalho.atualizado_em.desc(), CrmItemFalho.id.desc())
            .limit(limit)
        )
    )


def count_open(session: Session, loja_id: int) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(CrmItemFalho)
            .where(CrmItemFalho.id_loja == loja_id, CrmItemFalho.status.in_(OPEN_FAILED_STATUSES))
        )
        or 0
    )


def get_item(session: Session, item_id: int, loja_id: int | None = None) -> CrmItemFalho:
    """The item, scoped to the store when given; LookupError when it is not there."""
    item = session.get(CrmItemFalho, item_id)
    if item is None or (loja_id is not None and item.id_loja != loja_id):
        raise LookupError(f"item falho {item_id} não encontrado")
    return item


def count_by_status(session: Session, integracao_id: int) -> dict[str, int]:
    return {
        str(status): int(n)
        for status, n in session.execute(
            select(CrmItemFalho.status, func.count(CrmItemFalho.id))
            .where(CrmItemFalho.id_integracao == integracao_id)
            .group_by(CrmItemFalho.status)
        ).all()
    }


def count_by_store_and_status(session: Session) -> list[tuple[int, str, int]]:
    return [
        (int(loja), str(status), int(n))
        for loja, status, n in session.execute(
            select(CrmItemFalho.id_loja, CrmItemFalho.status, func.count(CrmItemFalho.id)).group_by(
                CrmItemFalho.id_loja, CrmItemFalho.status
            )
        ).all()
    ]


def parked_push_items(session: Session, integracao_id: int, entity_type: str) -> dict[int, datetime | None]:
    """Local rows with a push item not resolved, and when the item was last touched (reconcile
    skips a row not modified since)."""
    return {
        item.entity_id: item.atualizado_em
        for item in session.scalars(
            select(CrmItemFalho).where(
                CrmItemFalho.id_integracao == integracao_id,
                CrmItemFalho.entity_type == entity_type,
                CrmItemFalho.direcao == "push",
                CrmItemFalho.status.in_(("falhou", "ignorado", "pendente")),
            )
        )
        if item.entity_id is not None
    }


def items_to_retry(
    session: Session,
    integracao_id: int | None = None,
    item_ids: Sequence[int] | None = None,
    *,
    force: bool = False,
    limit: int = 5000,
) -> list[CrmItemFalho]:
    """Items whose next attempt is due (or, with `force`, every open one of the selection)."""
    query = select(CrmItemFalho)
    if integracao_id is not None:
        query = query.where(CrmItemFalho.id_integracao == integracao_id)
    if item_ids is not None:
        query = query.where(CrmItemFalho.id.in_(list(item_ids)))
    if force:
        query = query.where(CrmItemFalho.status.in_(OPEN_FAILED_STATUSES))
    else:
        query = query.where(
            CrmItemFalho.status == "pendente",
            or_(CrmItemFalho.proxima_tentativa.is_(None), CrmItemFalho.proxima_tentativa <= utcnow()),
        )
    return list(session.scalars(query.limit(limit)).all())


# ----------------------------------------------------------------------------- a person's actions


def make_due_now(session: Session, item: CrmItemFalho) -> None:
    """A person asked to retry: attempts reset, due now."""
    if item.status == "resolvido":
        raise ValueError(f"o item {item.id} já foi resolvido")
    item.status = "pendente"
    item.tentativas = 0
    item.proxima_tentativa = utcnow()
    session.commit()


def pending_due_now(session: Session, integracao_id: int) -> int:
    """The integration's waiting items become due now (its address or credentials changed:
    what waited for the CRM to accept us may work at once). Attempts are kept; committed by
    the caller. Answers how many."""
    items = session.scalars(
        select(CrmItemFalho).where(CrmItemFalho.id_integracao == integracao_id, CrmItemFalho.status == "pendente")
    ).all()
    now = utcnow()
    for item in items:
        item.proxima_tentativa = now
    return len(items)


def ignore_item(session: Session, item_id: int, loja_id: int | None = None) -> CrmItemFalho:
    """Stop retrying the item; a later change of the record makes it eligible again."""
    item = get_item(session, item_id, loja_id)
    item.status = "ignorado"
    item.proxima_tentativa = None
    session.commit()
    return item
