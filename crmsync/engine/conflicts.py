"""Manual conflicts: a human's decision, and the settled-conflicts pass (spec 6.1 step 3).

A pending conflict leaves both records as they are for its fields. Resolving it writes the
chosen value to whichever side does not hold it yet and stores it as the base, so the same
conflict cannot be raised again (both sides and the base now agree on the field).

The settled pass re-examines pending conflicts after push and pull: if the two sides have
since converged, or the configured policy now settles the field (someone changed the
strategy), the record is reconciled again and the conflict closes by itself.
"""

from __future__ import annotations

import contextlib
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from crmsync.db.sync import CrmConflito
from crmsync.engine.base import DELETE_FIELD, EngineBase, RemoteWriteNeeded, parse_utc
from crmsync.engine.results import PushResult
from crmsync.merge import three_way_merge, values_equal
from crmsync.model.canonical import canonical_hash
from crmsync.providers.base import NotFoundError, RemoteRecord, error_message

__all__ = ["ConflictsMixin"]

CHOICES = ("local", "externo")
_DECISION_ROUNDS = 8  # looks at a record that keeps moving before a decision gives up (the user tries again)


class ConflictsMixin(EngineBase):
    if TYPE_CHECKING:  # provided by PushMixin in SyncEngine

        def push_one(self, entity_type: str, entity_id: int) -> PushResult: ...

        def _fingerprint(self, entity_type: str, row: Any, link: Any) -> tuple[Any, ...]: ...

        def _unmoved(self, entity_type: str, row: Any, link: Any, seen: tuple[Any, ...]) -> bool: ...

    def resolve_conflict(
        self, conflito_id: int, usar: str, campos: dict[str, str] | None = None, actor: str | None = None
    ) -> dict[str, Any]:
        """Apply a person's decision with no transaction open while the CRM is called (the
        staged way of the push): read the conflict and the record in a short look, read or
        write the CRM, then apply in a short transaction that first checks the record and
        its link did not move meanwhile; if they did, the decision is worked out again."""
        started = time.perf_counter()
        who = actor or self.options.actor or "desconhecido"
        if usar not in ("local", "externo", "merge"):
            raise ValueError("usar deve ser 'local', 'externo' ou 'merge'")
        remote: RemoteRecord | None = None  # the CRM's record, as last read or written by us
        crm_step: RemoteRecord | bool = False  # a delete conflict's CRM side, once done
        sent: dict[str, Any] = {}  # values written to the CRM by this decision (never sent twice)
        for _round in range(_DECISION_ROUNDS):
            to_external: dict[str, Any] = {}
            to_local: dict[str, Any] = {}
            values: dict[str, Any] = {}
            local_ext: dict[str, Any] = {}
            with self._read() as s:
                conflict, choices, link, row = self._decision_record(s, conflito_id, usar, campos)
                entity_type = conflict.entity_type
                gone = link is None or row is None
                if not gone:
                    assert link is not None and row is not None
                    seen = self._fingerprint(entity_type, row, link)
                    external_id = link.external_id
                    is_delete = DELETE_FIELD in conflict.campos
                    deleted_locally = row.deletado_em is not None
                    if not is_delete and remote is not None:
                        values, to_external, to_local = self._field_plan(
                            s, entity_type, row, conflict, choices, remote, sent
                        )
                    elif is_delete and not deleted_locally and choices[DELETE_FIELD] == "local":
                        local_ext = self._local_ext(s, entity_type, row)
            if not gone and not is_delete and remote is None:
                remote = self.provider.get(entity_type, external_id)
                continue
            if self.options.dry_run:  # the decision alone: what it would write, nothing written
                where = {"entity_type": entity_type, "entity_id": conflict.entity_id, "external_id": None}
                if not gone:
                    where["external_id"] = external_id
                    delete = (deleted_locally, choices[DELETE_FIELD]) if is_delete else None
                    self.planned.extend(decision_plan(where, delete, to_external, to_local, local_ext))
                return {
                    "success": True,
                    "conflito_id": conflito_id,
                    "status": "pendente",
                    **where,
                    "campos": choices,
                    "valores": values,
                    "planned": list(self.planned),
                }
            if not gone and is_delete and crm_step is False:
                crm_step = self._delete_decision_on_crm(
                    entity_type, external_id, deleted_locally, choices[DELETE_FIELD], local_ext
                )
            elif not gone and not is_delete and to_external:
                remote = self.provider.update(entity_type, external_id, to_external, current=remote)
                sent.update(to_external)
                continue  # worked out again with the CRM's answer: nothing left to write
            outcome = self._apply_decision(
                conflito_id,
                usar,
                campos,
                who,
                started,
                seen=None if gone else seen,
                remote=remote,
                crm_step=crm_step,
                sent=sent,
            )
            if outcome is None:
                remote = None  # moved meanwhile: read both sides again
                continue
            result, follow_up = outcome
            if follow_up:  # something else changed meanwhile and must reach the CRM: a staged push
                self.push_one(str(result["entity_type"]), int(result["entity_id"]))
            return result
        raise RuntimeError("o registro mudou a cada tentativa durante a decisão; tente de novo")

    def _decision_record(
        self, s: Any, conflito_id: int, usar: str, campos: dict[str, str] | None
    ) -> tuple[CrmConflito, dict[str, str], Any, Any]:
        """The pending conflict, the side chosen for each field, its link and its row (in a
        delete conflict, a stand-in for a row the ERP deleted itself)."""
        conflict, choices = self._pending_choices(s, conflito_id, usar, campos)
        link = self.binder.by_local(s, conflict.entity_type, conflict.entity_id)
        row = self.repo.get(s, conflict.entity_type, conflict.entity_id)
        if row is None and link is not None and DELETE_FIELD in conflict.campos:
            row = self.repo.ghost(conflict.entity_type, conflict.entity_id)
        return conflict, choices, link, row

    def _pending_choices(
        self, s: Any, conflito_id: int, usar: str, campos: dict[str, str] | None
    ) -> tuple[CrmConflito, dict[str, str]]:
        """The pending conflict of this integration and the side chosen for each field."""
        conflict = s.get(CrmConflito, conflito_id)
        mine = (self.id_loja, self.integracao_id)
        if conflict is None or (conflict.id_loja, conflict.id_integracao) != mine:
            raise LookupError(f"Conflito {conflito_id} não encontrado")
        if conflict.status != "pendente":
            raise ValueError(f"Conflito {conflito_id} já foi resolvido")
        fields = list(conflict.campos)
        if usar != "merge":
            return conflict, {f: usar for f in fields}
        campos = dict(campos or {})
        missing = [f for f in fields if f not in campos]
        bad = {f: c for f, c in campos.items() if c not in CHOICES or f not in conflict.campos}
        if missing or bad:
            raise ValueError(
                "merge exige uma escolha ('local' ou 'externo') para cada campo em conflito: " + ", ".join(fields)
            )
        return conflict, {f: campos[f] for f in fields}

    def _delete_decision_on_crm(
        self, entity_type: str, external_id: str, deleted_locally: bool, choice: str, local_ext: dict[str, Any]
    ) -> RemoteRecord | bool:
        """The CRM side of a delete decision, made with no transaction open: confirm a local
        delete on the CRM, or recreate there a record deleted on it (its answer)."""
        if deleted_locally and choice == "local":
            with contextlib.suppress(NotFoundError):
                self.provider.delete(entity_type, external_id)
        elif not deleted_locally and choice == "local":
            return self.provider.create(entity_type, local_ext)
        return True

    def _apply_decision(
        self,
        conflito_id: int,
        usar: str,
        campos: dict[str, str] | None,
        who: str,
        started: float,
        *,
        seen: tuple[Any, ...] | None,
        remote: RemoteRecord | None,
        crm_step: RemoteRecord | bool,
        sent: dict[str, Any],
    ) -> tuple[dict[str, Any], bool] | None:
        """The decision's local side in one short transaction: (result, whether a staged
        push must follow), or None when the record moved since it was read."""
        with self._uow() as s:
            conflict, choices, link, row = self._decision_record(s, conflito_id, usar, campos)
            entity_type = conflict.entity_type
            if link is None or row is None:
                self._close_conflict(
                    conflict, who, {"usar": usar, "campos": choices, "motivo": "registro não existe mais"}
                )
                return {"success": True, "conflito_id": conflito_id, "status": "resolvido", "campos": choices}, False
            created = isinstance(crm_step, RemoteRecord)
            # A record recreated on the CRM is linked whatever moved: doing it again would duplicate it.
            # The push's one check that nothing moved: the link as read, the row by its guard.
            if not created and (seen is None or not self._unmoved(entity_type, row, link, seen)):
                return None
            follow_up = False
            if DELETE_FIELD in conflict.campos:
                values = self._resolve_delete(
                    s,
                    entity_type,
                    link,
                    row,
                    choices[DELETE_FIELD],
                    crm_step if isinstance(crm_step, RemoteRecord) else None,
                )
            else:
                assert remote is not None
                values, to_external, to_local = self._field_plan(s, entity_type, row, conflict, choices, remote, sent)
                if to_external:
                    return None  # the CRM moved under the plan: work it out again
                if remote.external_id and remote.external_id != link.external_id:
                    link.external_id = remote.external_id  # our write moved it (SuiteCRM: a Contact turned Account)
                self._apply_fields(s, entity_type, link, row, choices, values, to_local)
            self._close_conflict(conflict, who, {"usar": usar, "campos": choices, "valores": values})
            if remote is not None and DELETE_FIELD not in conflict.campos:
                # The decided fields now agree with the base on both sides; whatever else
                # changed meanwhile (on either side) flows now, instead of hiding behind a
                # refreshed fingerprint (a CRM write it needs goes through a staged push).
                s.flush()
                try:
                    with s.begin_nested():
                        self._reconcile(s, entity_type, link, row, remote, direcao="conflito")
                except RemoteWriteNeeded:
                    follow_up = True
            self.log.success(
                "conflito",
                "resolve",
                entity_type,
                entity_id=row.id,
                external_id=link.external_id,
                mensagem=f"conflito #{conflito_id} resolvido por {who} ({usar})",
                diff={f: {"escolha": c, "valor": values.get(f)} for f, c in choices.items()},
                duracao_ms=int((time.perf_counter() - started) * 1000),
            )
            return {
                "success": True,
                "conflito_id": conflito_id,
                "status": "resolvido",
                "entity_type": entity_type,
                "entity_id": row.id,
                "external_id": link.external_id,
                "campos": choices,
                "valores": values,
                "resolvido_por": who,
                "planned": list(self.planned),
            }, follow_up

    def _field_plan(
        self,
        s: Any,
        entity_type: str,
        row: Any,
        conflict: CrmConflito,
        choices: dict[str, str],
        remote: RemoteRecord,
        sent: dict[str, Any],
    ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        """(decided values, what the CRM must be sent, what the local row must take). A
        value this decision sent already is not sent again, even if the CRM's answer
        spells it differently (else a normalising CRM would be written round after round)."""
        local_ext = self._local_ext(s, entity_type, row)
        to_external: dict[str, Any] = {}
        to_local: dict[str, Any] = {}
        values: dict[str, Any] = {}
        for name, choice in choices.items():
            if choice == "local":
                value = local_ext.get(name, conflict.campos[name].get("local"))
                already = name in sent and values_equal(sent[name], value)
                if name in remote.data and not values_equal(remote.data[name], value) and not already:
                    to_external[name] = value
            else:
                value = remote.data.get(name, conflict.campos[name].get("externo"))
                if name in local_ext and not values_equal(local_ext[name], value):
                    to_local[name] = value
            values[name] = value
        return values, to_external, to_local

    def _apply_fields(
        self,
        s: Any,
        entity_type: str,
        link: Any,
        row: Any,
        choices: dict[str, str],
        values: dict[str, Any],
        to_local: dict[str, Any],
    ) -> None:
        """The decided values become the base; the local row takes its side (the CRM's was
        written before this transaction)."""
        if to_local:
            self.repo.apply(entity_type, row, self.repo.to_local_refs(s, entity_type, to_local))
            s.flush()
        base = {**(link.base_snapshot or {}), **{name: values[name] for name in choices}}
        link.base_snapshot = base
        link.base_hash = canonical_hash(base)
        link.status = "sincronizado"
        link.sincronizado_em = datetime.now(UTC)

    def _resolve_delete(
        self, s: Any, entity_type: str, link: Any, row: Any, choice: str, created: RemoteRecord | None
    ) -> dict[str, Any]:
        """A delete conflict: 'local' keeps the local state, 'externo' the external one. The
        CRM side (a delete, or ``created``: the record recreated) was done before this
        transaction by :meth:`_delete_decision_on_crm`."""
        deleted_locally = row.deletado_em is not None
        now = datetime.now(UTC)
        if deleted_locally:
            if choice == "local":  # the delete, confirmed on the provider
                link.status = "excluido_local"
                return {DELETE_FIELD: "excluído nos dois lados"}
            if row.id is not None and "_crm_gone" in row.__dict__:
                raise ValueError("a linha foi excluída fisicamente no ERP e não pode ser restaurada; use 'local'")
            row.deletado_em = None
            link.status = "sincronizado"
            link.local_hash = self.repo.row_hash(entity_type, row)
            return {DELETE_FIELD: "restaurado localmente"}
        # deleted on the provider
        if choice == "externo":
            row.deletado_em = now
            link.status = "excluido_remoto"
            return {DELETE_FIELD: "excluído nos dois lados"}
        local_ext = self._local_ext(s, entity_type, row)
        if created is None:
            return {DELETE_FIELD: "recriado no CRM"}
        link.external_id = created.external_id
        link.base_snapshot = {**created.data, **local_ext}
        link.base_hash = canonical_hash(link.base_snapshot)
        link.local_hash = self.repo.row_hash(entity_type, row)
        link.remote_version = created.version
        link.remote_modificado_em = created.modified_at
        link.remoto_deletado_em = None
        link.status = "sincronizado"
        return {DELETE_FIELD: f"recriado no CRM como {created.external_id}"}

    # ------------------------------------------------------------------ settled pass

    def settle_conflicts(self, entity_types: list[str] | None = None) -> dict[str, Any]:
        """Close pending conflicts whose sides converged or that the policy now settles."""
        with self.session_factory() as s:
            stmt = select(CrmConflito.id).where(
                CrmConflito.id_loja == self.id_loja,
                CrmConflito.id_integracao == self.integracao_id,
                CrmConflito.status == "pendente",
            )
            if entity_types:
                stmt = stmt.where(CrmConflito.entity_type.in_(entity_types))
            ids = list(s.scalars(stmt.order_by(CrmConflito.id)))
        resolved = 0
        for conflito_id in ids:
            try:
                if self._settle_one(conflito_id):
                    resolved += 1
            except Exception as exc:
                with self._uow():
                    self.log.error("conflito", "?", f"conflito #{conflito_id}: {error_message(exc)}", operacao="settle")
        return {"total_conflitos": len(ids), "resolvidos": resolved, "pendentes": len(ids) - resolved}

    def _settle_one(self, conflito_id: int) -> bool:
        """Close one pending conflict if the policy now settles it, the staged way (as a
        decision is applied): look in a short read, read the CRM with no transaction open,
        then apply in a short transaction that first checks the record and its link did not
        move; a merge that must write to the CRM goes through a staged push. True when the
        conflict is closed."""
        for _round in range(_DECISION_ROUNDS):
            with self._read() as s:
                conflict = s.get(CrmConflito, conflito_id)
                if conflict is None or conflict.status != "pendente":
                    return True  # closed meanwhile (a push or pull saw the sides converge)
                entity_type, entity_id = conflict.entity_type, conflict.entity_id
                link = self.binder.by_local(s, entity_type, entity_id)
                row = self.repo.get(s, entity_type, entity_id)
                gone = link is None or row is None
                if not gone:
                    assert link is not None and row is not None
                    if DELETE_FIELD in conflict.campos or not self._policy_settles(s, conflict, link, row):
                        return False
                    seen = self._fingerprint(entity_type, row, link)
                    external_id = link.external_id
            remote: RemoteRecord | None = None
            if not gone:
                with contextlib.suppress(NotFoundError):
                    remote = self.provider.get(entity_type, external_id)
            with self._uow() as s:
                conflict = s.get(CrmConflito, conflito_id)
                if conflict is None or conflict.status != "pendente":
                    return True
                link = self.binder.by_local(s, entity_type, entity_id)
                row = self.repo.get(s, entity_type, entity_id)
                if link is None or row is None:
                    self._close_conflict(conflict, "sistema", {"motivo": "registro não existe mais"})
                    return True
                if gone or not self._unmoved(entity_type, row, link, seen):
                    continue  # moved while the CRM was read: look again
                if remote is None:
                    self._apply_remote_delete(s, entity_type, link, row, direcao="conflito")
                    self._close_conflict(conflict, "sistema", {"motivo": "registro excluído no CRM"})
                    return True
                try:
                    with s.begin_nested():
                        out = self._reconcile(s, entity_type, link, row, remote, direcao="conflito")
                except RemoteWriteNeeded:
                    pass  # the CRM must be written: the staged push below, then look again
                else:
                    if out.conflicts:
                        return False
                    if conflict.status == "pendente":
                        self._close_conflict(conflict, "sistema", {"motivo": "resolvido pela política configurada"})
                    return True
            self.push_one(entity_type, entity_id)
            if self.options.dry_run:
                return False  # that push was only planned: looking again would see the same
        return False

    def _policy_settles(self, s: Any, conflict: CrmConflito, link: Any, row: Any) -> bool:
        """Whether the configured policy now decides every field of the conflict (no CRM call)."""
        entity_type = conflict.entity_type
        local_ext = self._local_ext(s, entity_type, row)
        fields = list(conflict.campos)
        external = {f: conflict.campos[f].get("externo") for f in fields}
        local = {f: local_ext.get(f) for f in fields}
        ext_at = parse_utc(conflict.campos[fields[0]].get("externo_em")) if fields else None
        ctx = self._ctx(entity_type, row.modificado_em, ext_at)
        check = three_way_merge(
            self._merge_base(s, entity_type, link), local, external, self._policy(entity_type), ctx, fields=fields
        )
        return not check.conflicts


def decision_plan(
    where: dict[str, Any],
    delete: tuple[bool, str] | None,
    to_external: dict[str, Any],
    to_local: dict[str, Any],
    local_ext: dict[str, Any],
) -> list[dict[str, Any]]:
    """The writes a person's decision makes, as a dry run lists them. ``delete``: for a
    delete conflict, (deleted locally, the side chosen)."""

    def entry(lado: str, operacao: str, campos: dict[str, Any] | None = None, motivo: str | None = None) -> Any:
        return {"lado": lado, "operacao": operacao, **where, "campos": campos or {}, "motivo": motivo}

    if delete is None:
        out = [entry("externo", "update", to_external, "resolução de conflito")] if to_external else []
        return out + ([entry("local", "update", to_local, "resolução de conflito")] if to_local else [])
    deleted_locally, choice = delete
    if deleted_locally:
        return [entry("externo", "delete")] if choice == "local" else [entry("local", "restore")]
    if choice == "externo":
        return [entry("local", "delete")]
    return [entry("externo", "create", local_ext, "recriar registro excluído no CRM")]
