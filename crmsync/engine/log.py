"""Audit log of every sync decision (`crm_sync_log`).

Failed items (`crm_itens_falhos`) are kept by their one owner, `crmsync.engine.ledger`
(re-exported here as `FailedItems` for older imports).

Why buffered: a pull applies a page of 100 records in one transaction; writing the log rows
with one multi-row INSERT in that same transaction keeps the log consistent with the data
(a rolled back page leaves no log claiming it was applied) and costs one statement per page.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy.orm import Session

from crmsync.db.bulk import bulk_insert
from crmsync.db.sync import CrmSyncLog
from crmsync.engine.ledger import FailedItems

__all__ = ["FailedItems", "RunLog", "decisions_diff"]


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

    def __init__(self, *, id_integracao: int, id_loja: int, run_id: str, trigger: str) -> None:
        self.id_integracao = id_integracao
        self.id_loja = id_loja
        self.run_id = run_id
        self.trigger = trigger
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

    # One per status: the row's kind says what it is; ``where``: entity_id, external_id,
    # and for ``error`` and ``success`` duracao_ms (``success`` also a field diff).

    def error(
        self, direcao: str, entity_type: str, mensagem: str | None, *, operacao: str = "erro", **where: Any
    ) -> None:
        """A row of something that failed, and why."""
        self.add(direcao=direcao, operacao=operacao, entity_type=entity_type, status="erro", mensagem=mensagem, **where)

    def skipped(
        self, direcao: str, entity_type: str, mensagem: str | None, *, operacao: str = "skip", **where: Any
    ) -> None:
        """A row of a record left as it is, and why."""
        self.add(
            direcao=direcao, operacao=operacao, entity_type=entity_type, status="ignorado", mensagem=mensagem, **where
        )

    def success(self, direcao: str, operacao: str, entity_type: str, **where: Any) -> None:
        """A row of something done (``mensagem`` too, when it says more)."""
        self.add(direcao=direcao, operacao=operacao, entity_type=entity_type, status="sucesso", **where)

    @property
    def pending(self) -> bool:
        return bool(self._rows)

    def discard(self) -> None:
        self._rows.clear()

    def flush(self, session: Session, *, simulated: bool = False) -> None:
        """Write the collected rows in the caller's transaction; ``simulated``: a dry run's,
        whose successes and conflicts are only planned (status ``simulado``)."""
        if simulated:
            for row in self._rows:
                if row["status"] in ("sucesso", "conflito"):
                    row["status"] = "simulado"
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
