"""State and building blocks shared by push, pull, conflicts, deletes and sales.

The one operation everything funnels into is :meth:`EngineBase._reconcile`: given a link,
the local row and the current remote record, three-way merge them against the link's base,
write only the side(s) that need it, record or close the conflict, and store the new base,
the local hash *after* our own write (so our write never looks like a user's edit: no echo)
and the remote version returned by the provider (so our update is recognised when the pull
sees it again).

Units of work are short transactions (one record on push, one page on pull). On SQLite a
no-op UPDATE opens the transaction for real first: the pysqlite driver otherwise lets a
SAVEPOINT start (and its RELEASE commit) a transaction, which would break both per-item
savepoints and the dry-run rollback.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from crmsync.config import IntegrationConfig, integration_config
from crmsync.db.sync import CrmConflito, CrmDuplicata, CrmEntityLink, CrmIntegracao
from crmsync.engine.decide import (
    NO_BASE,
    describe_merge,
    fields_to_send,
    merge_operation,
    merge_records,
    remote_delete_log,
)
from crmsync.engine.intents import CreateIntents, describe_refused
from crmsync.engine.links import ACTIVE_STATUSES, Binder
from crmsync.engine.local_repo import LocalRepo
from crmsync.engine.log import FailedItems, RunLog, decisions_diff
from crmsync.engine.results import RunOptions
from crmsync.merge import MergeContext, MergeResult
from crmsync.model.canonical import canonical_hash
from crmsync.providers.base import Provider, RemoteRecord

__all__ = ["EngineBase", "Outcome"]

DELETE_FIELD = "_excluido"  # pseudo-field of a delete conflict in crm_conflitos.campos

# Statements that really open a SQLite transaction (see EngineBase._uow).
_SQLITE_BEGIN = ("UPDATE crm_cursores SET id = id WHERE 1 = 0",)
_DRY_TABLE = "temp.crm_dry_run"  # a no-op on it opens a dry run's transaction, with no lock on the database
_SQLITE_BEGIN_DRY = (
    f"CREATE TABLE IF NOT EXISTS {_DRY_TABLE} (x INTEGER)",
    f"UPDATE {_DRY_TABLE} SET x = x WHERE 1 = 0",
)


@dataclass
class Outcome:
    """What one reconcile did, for counters, results and the log."""

    operacao: str  # update | skip | conflict | link | create | delete | deactivate
    wrote_local: bool = False
    wrote_remote: bool = False
    conflicts: int = 0
    remote: RemoteRecord | None = None
    message: str | None = None
    # Fields the CRM answered a write without storing: {field: (sent, stored)}.
    refused: dict[str, tuple[Any, Any]] = field(default_factory=dict)


class RemoteWriteNeeded(Exception):
    """A reconcile found fields to write to the CRM, which never happens inside a
    transaction: nothing was written; the caller hands the record to a staged push, which
    writes ``fields`` with no transaction open, then applies the merge in a new one."""

    def __init__(self, fields: dict[str, Any], remote: RemoteRecord, merge: MergeResult, local_ext: dict[str, Any]):
        super().__init__("fields to write to the CRM")
        self.fields = fields
        self.remote = remote
        self.merge = merge
        self.local_ext = local_ext


@dataclass
class DecidedMerge:
    """A merge decided before its transaction (the staged push): the CRM's record as it
    stands after any write the merge needed (the write's answer, or the record the merge
    was decided on), and the fields that write did not store (compared with what was sent)."""

    merge: MergeResult
    local_ext: dict[str, Any]
    remote: RemoteRecord
    refused: dict[str, tuple[Any, Any]] = field(default_factory=dict)


class PartialWrite(Exception):
    """The CRM answered a write but did not store every field sent (a verified write that
    failed): the item failed, its link and log already say so (raised after the commit)."""

    def __init__(self, message: str, *, operacao: str, external_id: str | None) -> None:
        super().__init__(message)
        self.operacao = operacao
        self.external_id = external_id


def iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


def parse_utc(value: Any) -> datetime | None:
    """An ISO timestamp stored in JSON (conflict times, cursors) as aware UTC; None if unreadable."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class EngineBase:
    """Holds the integration, its config, the provider and the run's log."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        integracao_id: int,
        provider: Provider | None = None,
        options: RunOptions | None = None,
        progress: Callable[[dict[str, Any]], None] | None = None,
        config: IntegrationConfig | None = None,
        integration: CrmIntegracao | None = None,
    ) -> None:
        self.session_factory = session_factory
        self.options = options or RunOptions()
        self.run_id: str = self.options.run_id or ""
        self.progress = progress
        self.planned: list[dict[str, Any]] = []
        with session_factory() as s:
            # the caller's row when it loaded it already (a job): not read a second time
            integ = integration if integration is not None else s.get(CrmIntegracao, integracao_id)
            if integ is None or integ.id != integracao_id:
                raise LookupError(f"Integração {integracao_id} não encontrada")
            self.integracao_id: int = integ.id
            self.id_loja: int = integ.id_loja
            self.provider_name: str = integ.provider
            self.ativo: bool = bool(integ.ativo)
            # parsed once: by the caller (a job has it already), else here
            self.config: IntegrationConfig = config if config is not None else integration_config(integ)
            self._sqlite = s.get_bind().dialect.name == "sqlite"
            self._owns_provider = provider is None
            if provider is None:
                provider = self._open_provider(integ)
        self.provider: Provider = provider
        self.binder = Binder(id_loja=self.id_loja, id_integracao=self.integracao_id, provider=self.provider_name)
        self.repo = LocalRepo(id_loja=self.id_loja, binder=self.binder)
        self.log = RunLog(
            id_integracao=self.integracao_id,
            id_loja=self.id_loja,
            run_id=self.run_id,
            trigger=self.options.trigger,
        )
        self.failed = FailedItems(id_integracao=self.integracao_id, id_loja=self.id_loja)
        self.intents = CreateIntents(
            id_loja=self.id_loja, id_integracao=self.integracao_id, provider=self.provider_name
        )
        self.crm_name: str = str(getattr(self.provider, "display_name", "") or self.provider_name)
        self._attach_index: dict[str, Any] = {}  # a push's first-attach listing (crmsync.engine.attach)
        self._dep_runs: dict[str, Any] = {}  # a pull's runs of a venda's references (crmsync.engine.pull_unlinked)

    def _open_provider(self, integ: CrmIntegracao) -> Provider:
        from crmsync.crypto import decrypt_json
        from crmsync.providers.registry import open_provider
        from crmsync.settings import get_settings

        provider: Provider = open_provider(
            integ.provider,
            base_url=integ.base_url,
            credentials=decrypt_json(integ.credenciais),
            config=self.config,
            settings=get_settings(),
            run_id=self.run_id,
        )
        return provider

    def close(self) -> None:
        if self._owns_provider:
            self.provider.close()

    # ------------------------------------------------------------------ transactions

    @contextmanager
    def _uow(self) -> Iterator[Session]:
        """A short transaction; rolled back in a dry run, whose log rows are then written
        apart, marked as simulated (the one place a dry run chooses not to keep a write)."""
        applies = not self.options.dry_run
        s = self.session_factory()
        try:
            s.begin()
            if self._sqlite:
                # A real run takes SQLite's write lock at once (a no-op UPDATE: the driver
                # begins a transaction only before a DML statement, and a SAVEPOINT outside
                # one would commit on release). A dry run is rolled back, so it need not hold
                # that lock while it reads the CRM: a no-op on a temporary table begins it.
                for statement in _SQLITE_BEGIN if applies else _SQLITE_BEGIN_DRY:
                    s.execute(text(statement))
            yield s
            if applies:
                self.log.flush(s)
                s.commit()
            else:
                s.rollback()
                if self.log.pending:
                    with self.session_factory() as ls, ls.begin():
                        self.log.flush(ls, simulated=True)
        except BaseException:
            s.rollback()
            self.log.discard()
            raise
        finally:
            s.close()

    @contextmanager
    def _read(self) -> Iterator[Session]:
        """A read-only look, rolled back at once: it takes no write lock (SQLite in WAL mode
        lets writers go on), so a CRM call made after it never holds one."""
        s = self.session_factory()
        try:
            yield s
        finally:
            s.rollback()
            s.close()

    def _plan(
        self,
        lado: str,
        operacao: str,
        entity_type: str,
        *,
        entity_id: int | None = None,
        external_id: str | None = None,
        campos: dict[str, Any] | None = None,
        motivo: str | None = None,
    ) -> None:
        """A write a dry run would make, for its plan (nothing is kept in a real run: the
        push's plan is its decision, see :mod:`crmsync.engine.decide`; the pull applies and
        rolls back, and says here what it applied)."""
        if not self.options.dry_run:
            return
        entry = {
            "lado": lado,
            "operacao": operacao,
            "entity_type": entity_type,
            "entity_id": entity_id,
            "external_id": external_id,
            "campos": campos or {},
        }
        if motivo:
            entry["motivo"] = motivo
        self.planned.append(entry)

    def _ctx(self, entity_type: str, local_at: datetime | None, remote_at: datetime | None) -> MergeContext:
        return MergeContext(
            local_modified_at=local_at,
            external_modified_at=remote_at,
            skew_tolerance=timedelta(seconds=self.config.tolerancia_relogio_segundos),
            direction=self.config.direction(entity_type),
        )

    def _policy(self, entity_type: str) -> Callable[[str], Any]:
        return lambda name: self.config.policy_for(entity_type, name)

    # ------------------------------------------------------------------ reconcile

    def _local_ext(self, s: Session, entity_type: str, row: Any) -> dict[str, Any]:
        """The row's canonical record with references in the external namespace."""
        return self.repo.to_external_refs(s, entity_type, self.repo.canon(entity_type, row))

    def _reconcile(
        self,
        s: Session,
        entity_type: str,
        link: CrmEntityLink,
        row: Any,
        remote: RemoteRecord,
        *,
        direcao: str,
        decided: DecidedMerge | None = None,
    ) -> Outcome:
        """Three-way merge of the row and the remote record against the link's base, applied
        to the local side, the link and the conflict. A merge that must write to the CRM
        raises :class:`RemoteWriteNeeded` before anything is written (the CRM is never
        called inside a transaction); ``decided``: a merge worked out before this
        transaction, its CRM write (if any) done, to apply (the staged push)."""
        started = time.perf_counter()
        out = Outcome(operacao="skip")
        if decided is None:
            local_ext = self._local_ext(s, entity_type, row)
            ctx = self._ctx(entity_type, row.modificado_em, remote.modified_at)
            result = merge_records(
                self._merge_base(s, entity_type, link), local_ext, remote.data, self._policy(entity_type), ctx
            )
            if result.to_external:
                raise RemoteWriteNeeded(fields_to_send(result, local_ext), remote, result, local_ext)
            new_remote = remote
        else:
            result, local_ext, new_remote = decided.merge, decided.local_ext, decided.remote
            if new_remote.external_id and new_remote.external_id != link.external_id:
                link.external_id = new_remote.external_id  # it moved (SuiteCRM: a Contact turned Account)
            out.wrote_remote = bool(result.to_external)
            out.refused = dict(decided.refused)
        if result.to_local:
            self._plan(
                "local", "update", entity_type, entity_id=row.id, external_id=link.external_id, campos=result.to_local
            )
            self.repo.apply(entity_type, row, self.repo.to_local_refs(s, entity_type, result.to_local))
            s.flush()
            out.wrote_local = True
        out.conflicts = self._record_conflicts(s, entity_type, link, row, remote, result, local_ext)
        self._keep_refused_base(link, result, out)
        link.base_snapshot = result.new_base
        link.base_hash = canonical_hash(result.new_base)
        link.local_hash = self.repo.row_hash(entity_type, row)
        link.remote_version = new_remote.version or link.remote_version
        link.remote_modificado_em = new_remote.modified_at or link.remote_modificado_em
        link.sincronizado_em = datetime.now(UTC)
        out.remote = new_remote
        out.operacao = merge_operation(result)
        self._log_merge(
            direcao,
            entity_type,
            row.id,
            link.external_id,
            result,
            refused=out.message if out.refused else None,
            started=started,
        )
        return out

    def _log_merge(
        self,
        direcao: str,
        entity_type: str,
        entity_id: int,
        external_id: str | None,
        result: MergeResult,
        *,
        refused: str | None = None,
        started: float | None = None,
    ) -> None:
        """The log row of a merge (applied, or a dry run's report of one): where each field
        went and why; a write the CRM did not fully store (``refused``) is never a success."""
        operacao = merge_operation(result)
        mensagem = describe_merge(result)
        if refused:
            status, mensagem = "erro", f"gravação parcial: {refused}" + (f"; {mensagem}" if mensagem else "")
        else:
            status = "conflito" if result.conflicts else "ignorado" if operacao == "skip" else "sucesso"
        self.log.add(
            direcao=direcao,
            operacao=operacao,
            entity_type=entity_type,
            status=status,
            entity_id=entity_id,
            external_id=external_id,
            diff=decisions_diff(result.decisions, result.to_local, result.to_external),
            mensagem=mensagem,
            duracao_ms=int((time.perf_counter() - started) * 1000) if started is not None else 0,
        )

    def _keep_refused_base(self, link: CrmEntityLink, result: MergeResult, out: Outcome) -> None:
        """A field the CRM answered without storing keeps its old base, so the store's value
        stays "changed locally" and the CRM's old value never flows back over it."""
        if not out.refused:
            return
        old_base = link.base_snapshot or {}
        for name in out.refused:
            if name in old_base:
                result.new_base[name] = old_base[name]
            else:
                result.new_base.pop(name, None)
        out.message = describe_refused(self.crm_name, out.refused)

    def _merge_base(self, s: Session, entity_type: str, link: CrmEntityLink) -> dict[str, Any] | None:
        """The link's base, with :data:`NO_BASE` for pending-conflict fields that have none."""
        base = link.base_snapshot
        if link.status != "conflito":
            return base
        pending = self._pending_conflict(s, entity_type, link.entity_id)
        if pending is None:
            return base
        missing = [f for f in pending.campos if f != DELETE_FIELD and f not in (base or {})]
        if not missing:
            return base
        return {**(base or {}), **dict.fromkeys(missing, NO_BASE)}

    # ------------------------------------------------------------------ conflicts

    def _pending_conflict(self, s: Session, entity_type: str, entity_id: int) -> CrmConflito | None:
        return s.scalars(
            select(CrmConflito).where(
                CrmConflito.id_loja == self.id_loja,
                CrmConflito.id_integracao == self.integracao_id,
                CrmConflito.entity_type == entity_type,
                CrmConflito.entity_id == entity_id,
                CrmConflito.status == "pendente",
            )
        ).first()

    def _open_conflict(self, s: Session, entity_type: str, link: CrmEntityLink) -> CrmConflito:
        """The link's pending conflict; a new one when it has none."""
        pending = self._pending_conflict(s, entity_type, link.entity_id)
        if pending is None:
            pending = CrmConflito(
                id_loja=self.id_loja,
                id_integracao=self.integracao_id,
                entity_type=entity_type,
                entity_id=link.entity_id,
                external_id=link.external_id,
                status="pendente",
            )
            s.add(pending)
        return pending

    def _record_conflicts(
        self,
        s: Session,
        entity_type: str,
        link: CrmEntityLink,
        row: Any,
        remote: RemoteRecord,
        result: MergeResult,
        local_ext: dict[str, Any],
    ) -> int:
        """Upsert the pending conflict of this link, or close it when the sides converged."""
        if not result.conflicts:
            if link.status == "conflito":
                pending = self._pending_conflict(s, entity_type, link.entity_id)
                if pending is not None and DELETE_FIELD not in pending.campos:
                    self._close_conflict(pending, "sistema", {"motivo": "os dois lados convergiram"})
                link.status = "sincronizado"
            return 0
        campos = {
            name: {
                "base": None if c.base is NO_BASE else c.base,
                "local": c.local,
                "externo": c.external,
                "local_em": iso(row.modificado_em),
                "externo_em": iso(remote.modified_at),
                "motivo": c.reason,
            }
            for name, c in result.conflicts.items()
        }
        pending = self._open_conflict(s, entity_type, link)
        pending.campos = campos
        pending.external_id = link.external_id
        pending.dados_local = local_ext
        pending.dados_externo = dict(remote.data)
        link.status = "conflito"
        s.flush()
        return len(campos)

    @staticmethod
    def _close_conflict(conflict: CrmConflito, actor: str, resolucao: dict[str, Any]) -> None:
        conflict.status = "resolvido"
        conflict.resolucao = resolucao
        conflict.resolvido_por = actor
        conflict.resolvido_em = datetime.now(UTC)

    def _delete_conflict(
        self, s: Session, entity_type: str, link: CrmEntityLink, row: Any, *, lado: str, when: datetime
    ) -> None:
        """A delete on one side that the policy says a human must confirm."""
        local_data: dict[str, Any] = {}
        if row is not None and row.id is not None:
            with contextlib.suppress(ValueError):  # a row the ERP hard-deleted, or one that does not convert
                local_data = self.repo.canon(entity_type, row)
        campos = {
            DELETE_FIELD: {
                "base": False,
                "local": lado == "local",
                "externo": lado == "externo",
                "local_em": iso(when) if lado == "local" else None,
                "externo_em": iso(when) if lado == "externo" else None,
                "motivo": "excluído localmente" if lado == "local" else "excluído no CRM",
            }
        }
        pending = self._open_conflict(s, entity_type, link)
        pending.campos = campos
        pending.dados_local = local_data
        pending.dados_externo = {} if lado == "externo" else dict(link.base_snapshot or {})
        link.status = "conflito_exclusao"
        s.flush()

    # ------------------------------------------------------------------ duplicates

    def _suggest_duplicate(
        self, s: Session, entity_type: str, local_id: int, remote: RemoteRecord, score: float, motivo: str
    ) -> bool:
        """Record a possible duplicate for review (once per pair); True when newly recorded."""
        existing = s.scalars(
            select(CrmDuplicata).where(
                CrmDuplicata.id_integracao == self.integracao_id,
                CrmDuplicata.entity_type == entity_type,
                CrmDuplicata.entity_id == local_id,
                CrmDuplicata.external_id == remote.external_id,
            )
        ).first()
        if existing is not None:
            if existing.status == "pendente":
                existing.dados_externo = dict(remote.data)
            return False
        row = self.repo.get(s, entity_type, local_id)
        s.add(
            CrmDuplicata(
                id_loja=self.id_loja,
                id_integracao=self.integracao_id,
                entity_type=entity_type,
                entity_id=local_id,
                external_id=remote.external_id,
                score=float(score),
                motivo=motivo[:200],
                dados_local=self.repo.canon(entity_type, row) if row is not None else {},
                dados_externo=dict(remote.data),
                status="pendente",
            )
        )
        s.flush()
        return True

    # ------------------------------------------------------------------ remote deletes

    def _apply_remote_delete(self, s: Session, entity_type: str, link: CrmEntityLink, row: Any, *, direcao: str) -> str:
        """The external record is gone: follow the entity's `delete_local` policy.
        Returns the operation done (delete | skip | conflict)."""
        policy = self.config.entity(entity_type).delete_local
        now = datetime.now(UTC)
        link.remoto_deletado_em = now
        row_log: dict[str, Any] = {"direcao": direcao, **remote_delete_log(policy)}
        if policy == "ignore":
            link.status = "excluido_remoto"
        elif policy == "conflict":
            self._delete_conflict(s, entity_type, link, row, lado="externo", when=now)
        else:
            if row is not None and row.deletado_em is None:
                self._plan(
                    "local",
                    "delete",
                    entity_type,
                    entity_id=row.id,
                    external_id=link.external_id,
                    motivo="excluído no CRM",
                )
                row.deletado_em = now
            link.status = "excluido_remoto"
        self.log.add(entity_type=entity_type, entity_id=link.entity_id, external_id=link.external_id, **row_log)
        return str(row_log["operacao"])

    def _mass_delete_blocked(self, count: int, total: int) -> str | None:
        """Circuit breaker: refuse to delete more than the configured share of an entity's
        linked records in one run (an incomplete listing must never wipe a store)."""
        limit = self.config.limite_exclusao_em_massa
        if count > 1 and count > limit * total:
            return (
                f"exclusão em massa bloqueada: {count} de {total} registros vinculados seriam excluídos "
                f"(limite {limit:.0%}); nada foi excluído"
            )
        return None

    @staticmethod
    def _is_active(link: CrmEntityLink) -> bool:
        return link.status in ACTIVE_STATUSES
