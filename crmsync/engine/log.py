"""Audit log and failed-items bookkeeping.

Why buffered: a pull applies a page of 100 records in one transaction; writing the log rows
with one multi-row INSERT in that same transaction keeps the log consistent with the data
(a rolled back page leaves no log claiming it was applied) and costs one statement per page.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from crmsync.db.bulk import bulk_insert
from crmsync.db.sync import CrmItemFalho, CrmSyncLog

__all__ = ["RunLog", "decisions_diff"]


def decisions_diff(
    decisions: list[tuple[str, str, str]], to_local: dict[str, Any], to_external: dict[str, Any]
) -> dict[str, Any] | None:
    """Field diff for the log: per field, where it went and why (values included)."""
    if not decisions:
        return None
    diff: dict[str, Any] = {}
    for name, action, reason in decisions:
        entry: dict[str, Any] = {"acao": action, "motivo": reason}
        if action == "to_local":
            entry["valor"] = to_local.get(name)
        elif action == "to_external":
            entry["valor"] = to_external.get(name)
        diff[name] = entry
    return diff


class RunLog:
    """Collects `crm_sync_log` rows of one run and writes them in the caller's transaction."""

    def __init__(self, *, id_integracao: int, id_loja: int, run_id: str, trigger: str, dry_run: bool) -> None:
        self.id_integracao = id_integracao
        self.id_loja = id_loja
        self.run_id = run_id
        self.trigger = trigger
        self.dry_run = dry_run
        self._rows: list[dict[str, Any]] = []

    def add(
        self,
        *,
        direcao: str,
        operacao: str,
        entity_type: str,
        status: str,
        entity_id: int | None = None,
        external_id: str | None = None,
        mensagem: str | None = None,
        duracao_ms: int = 0,
        diff: dict[str, Any] | None = None,
    ) -> None:
        if self.dry_run and status in ("sucesso", "conflito"):
            status = "simulado"
        self._rows.append(
            {
                "direcao": direcao[:20],
                "operacao": operacao[:20],
                "entity_type": entity_type[:20],
                "entity_id": entity_id,
                "external_id": external_id[:64] if external_id else external_id,
                "status": status[:20],
                "mensagem": mensagem[:2000] if mensagem else mensagem,
                "duracao_ms": max(0, int(duracao_ms)),
                "diff": diff,
                "criado_em": datetime.now(UTC),
            }
        )

    def discard(self) -> None:
        self._rows.clear()

    def flush(self, session: Session) -> None:
        if self._rows:
            # Core on the table (the ORM's bulk INSERT re-sorts every row's keys, a
            # noticeable share of a large pull); the rows carry every column already.
            session.flush()  # what the ORM statement's autoflush did
            bulk_insert(
                session.connection(),
                cast(Table, CrmSyncLog.__table__),
                self._rows,
                {
                    "id_integracao": self.id_integracao,
                    "id_loja": self.id_loja,
                    "run_id": self.run_id,
                    "tipo": self.trigger[:20],
                },
            )
            self._rows = []


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
        chave = f"local:{entity_id}" if direcao == "push" else f"externo:{external_id}"
        row = session.scalars(
            select(CrmItemFalho).where(
                CrmItemFalho.id_integracao == self.id_integracao,
                CrmItemFalho.entity_type == entity_type,
                CrmItemFalho.direcao == direcao,
                CrmItemFalho.chave == chave,
            )
        ).first()
        if row is None:
            row = CrmItemFalho(
                id_loja=self.id_loja,
                id_integracao=self.id_integracao,
                entity_type=entity_type,
                direcao=direcao,
                chave=chave,
                tentativas=0,
            )
            session.add(row)
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
        row.ultimo_erro = error[:2000]
        session.flush()
        self.pending_keys(session, entity_type, direcao).add(chave)

    def succeeded(
        self, session: Session, *, entity_type: str, direcao: str, entity_id: int | None, external_id: str | None
    ) -> None:
        chave = f"local:{entity_id}" if direcao == "push" else f"externo:{external_id}"
        pending = self.pending_keys(session, entity_type, direcao)
        if chave not in pending:
            return
        row = session.scalars(
            select(CrmItemFalho).where(
                CrmItemFalho.id_integracao == self.id_integracao,
                CrmItemFalho.entity_type == entity_type,
                CrmItemFalho.direcao == direcao,
                CrmItemFalho.chave == chave,
            )
        ).first()
        if row is not None:
            row.status = "resolvido"
            row.ultimo_erro = None
            row.proxima_tentativa = None
        pending.discard(chave)


def _changed_after(changed_at: datetime | None, since: datetime | None) -> bool:
    """Whether a record's modification time is after `since` (unknown times: not changed)."""
    if changed_at is None or since is None:
        return False
    if changed_at.tzinfo is None:
        changed_at = changed_at.replace(tzinfo=UTC)
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return changed_at > since
