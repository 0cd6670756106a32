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
from typing import Any

from sqlalchemy import select

from crmsync.db.sync import CrmConflito
from crmsync.engine.base import DELETE_FIELD, EngineBase, parse_utc
from crmsync.merge import three_way_merge, values_equal
from crmsync.model.canonical import canonical_hash
from crmsync.providers.base import NotFoundError, RemoteRecord, error_message

__all__ = ["ConflictsMixin"]

CHOICES = ("local", "externo")


class ConflictsMixin(EngineBase):
    def resolve_conflict(
        self, conflito_id: int, usar: str, campos: dict[str, str] | None = None, actor: str | None = None
    ) -> dict[str, Any]:
        started = time.perf_counter()
        who = actor or self.options.actor or "desconhecido"
        if usar not in ("local", "externo", "merge"):
            raise ValueError("usar deve ser 'local', 'externo' ou 'merge'")
        with self._uow() as s:
            conflict = s.get(CrmConflito, conflito_id)
            mine = (self.id_loja, self.integracao_id)
            if conflict is None or (conflict.id_loja, conflict.id_integracao) != mine:
                raise LookupError(f"Conflito {conflito_id} não encontrado")
            if conflict.status != "pendente":
                raise ValueError(f"Conflito {conflito_id} já foi resolvido")
            fields = list(conflict.campos)
            if usar == "merge":
                campos = dict(campos or {})
                missing = [f for f in fields if f not in campos]
                bad = {f: c for f, c in campos.items() if c not in CHOICES or f not in conflict.campos}
                if missing or bad:
                    raise ValueError(
                        "merge exige uma escolha ('local' ou 'externo') para cada campo em conflito: "
                        + ", ".join(fields)
                    )
                choices = {f: campos[f] for f in fields}
            else:
                choices = {f: usar for f in fields}
            entity_type = conflict.entity_type
            link = self.binder.by_local(s, entity_type, conflict.entity_id)
            row = self.repo.get(s, entity_type, conflict.entity_id)
            if row is None and link is not None and DELETE_FIELD in conflict.campos:
                row = self.repo.ghost(entity_type, conflict.entity_id)  # the ERP deleted the row itself
            if link is None or row is None:
                self._close_conflict(
                    conflict, who, {"usar": usar, "campos": choices, "motivo": "registro não existe mais"}
                )
                return {"success": True, "conflito_id": conflito_id, "status": "resolvido", "campos": choices}
            remote = None
            if DELETE_FIELD in conflict.campos:
                values = self._resolve_delete(s, entity_type, link, row, choices[DELETE_FIELD])
            else:
                values, remote = self._resolve_fields(s, entity_type, link, row, conflict, choices)
            self._close_conflict(conflict, who, {"usar": usar, "campos": choices, "valores": values})
            if remote is not None and not self.dry_run:
                # The decided fields now agree with the base on both sides; whatever else
                # changed meanwhile (on either side) flows now, instead of hiding behind a
                # refreshed fingerprint.
                s.flush()
                self._reconcile(s, entity_type, link, row, remote, direcao="conflito")
            self.log.add(
                direcao="conflito",
                operacao="resolve",
                entity_type=entity_type,
                status="sucesso",
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
            }

    def _resolve_fields(
        self, s: Any, entity_type: str, link: Any, row: Any, conflict: CrmConflito, choices: dict[str, str]
    ) -> tuple[dict[str, Any], RemoteRecord]:
        remote = self.provider.get(entity_type, link.external_id)
        local_ext = self._local_ext(s, entity_type, row)
        to_external: dict[str, Any] = {}
        to_local: dict[str, Any] = {}
        base = dict(link.base_snapshot or {})
        values: dict[str, Any] = {}
        for name, choice in choices.items():
            if choice == "local":
                value = local_ext.get(name, conflict.campos[name].get("local"))
                if name in remote.data and not values_equal(remote.data[name], value):
                    to_external[name] = value
            else:
                value = remote.data.get(name, conflict.campos[name].get("externo"))
                if name in local_ext and not values_equal(local_ext[name], value):
                    to_local[name] = value
            base[name] = value
            values[name] = value
        new_remote = remote
        if to_external:
            if self.dry_run:
                self._plan(
                    "externo",
                    "update",
                    entity_type,
                    entity_id=row.id,
                    external_id=link.external_id,
                    campos=to_external,
                    motivo="resolução de conflito",
                )
            else:
                new_remote = self.provider.update(entity_type, link.external_id, to_external, current=remote)
                if new_remote.external_id and new_remote.external_id != link.external_id:
                    link.external_id = new_remote.external_id  # it moved (SuiteCRM: a Contact turned Account)
        if to_local:
            if self.dry_run:
                self._plan(
                    "local",
                    "update",
                    entity_type,
                    entity_id=row.id,
                    external_id=link.external_id,
                    campos=to_local,
                    motivo="resolução de conflito",
                )
            self.repo.apply(entity_type, row, self.repo.to_local_refs(s, entity_type, to_local))
            s.flush()
        link.base_snapshot = base
        link.base_hash = canonical_hash(base)
        link.status = "sincronizado"
        link.sincronizado_em = datetime.now(UTC)
        return values, new_remote

    def _resolve_delete(self, s: Any, entity_type: str, link: Any, row: Any, choice: str) -> dict[str, Any]:
        """A delete conflict: 'local' keeps the local state, 'externo' the external one."""
        deleted_locally = row.deletado_em is not None
        now = datetime.now(UTC)
        if deleted_locally:
            if choice == "local":  # confirm the delete on the provider
                if self.dry_run:
                    self._plan("externo", "delete", entity_type, entity_id=row.id, external_id=link.external_id)
                else:
                    with contextlib.suppress(NotFoundError):
                        self.provider.delete(entity_type, link.external_id)
                link.status = "excluido_local"
                return {DELETE_FIELD: "excluído nos dois lados"}
            if row.id is not None and "_crm_gone" in row.__dict__:
                raise ValueError("a linha foi excluída fisicamente no ERP e não pode ser restaurada; use 'local'")
            if self.dry_run:
                self._plan("local", "restore", entity_type, entity_id=row.id, external_id=link.external_id)
            row.deletado_em = None
            link.status = "sincronizado"
            link.local_hash = self.repo.row_hash(entity_type, row)
            return {DELETE_FIELD: "restaurado localmente"}
        # deleted on the provider
        if choice == "externo":
            if self.dry_run:
                self._plan("local", "delete", entity_type, entity_id=row.id, external_id=link.external_id)
            row.deletado_em = now
            link.status = "excluido_remoto"
            return {DELETE_FIELD: "excluído nos dois lados"}
        local_ext = self._local_ext(s, entity_type, row)
        if self.dry_run:
            self._plan(
                "externo",
                "create",
                entity_type,
                entity_id=row.id,
                campos=local_ext,
                motivo="recriar registro excluído no CRM",
            )
            return {DELETE_FIELD: "recriado no CRM"}
        remote = self.provider.create(entity_type, local_ext)
        link.external_id = remote.external_id
        link.base_snapshot = {**remote.data, **local_ext}
        link.base_hash = canonical_hash(link.base_snapshot)
        link.local_hash = self.repo.row_hash(entity_type, row)
        link.remote_version = remote.version
        link.remote_modificado_em = remote.modified_at
        link.remoto_deletado_em = None
        link.status = "sincronizado"
        return {DELETE_FIELD: f"recriado no CRM como {remote.external_id}"}

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
                    self.log.add(
                        direcao="conflito",
                        operacao="settle",
                        entity_type="?",
                        status="erro",
                        mensagem=f"conflito #{conflito_id}: {error_message(exc)}",
                    )
        return {"total_conflitos": len(ids), "resolvidos": resolved, "pendentes": len(ids) - resolved}

    def _settle_one(self, conflito_id: int) -> bool:
        with self._uow() as s:
            conflict = s.get(CrmConflito, conflito_id)
            if conflict is None or conflict.status != "pendente":
                return True  # closed meanwhile (a push or pull saw the sides converge)
            entity_type = conflict.entity_type
            link = self.binder.by_local(s, entity_type, conflict.entity_id)
            row = self.repo.get(s, entity_type, conflict.entity_id)
            if link is None or row is None:
                self._close_conflict(conflict, "sistema", {"motivo": "registro não existe mais"})
                return True
            if DELETE_FIELD in conflict.campos:
                return False
            local_ext = self._local_ext(s, entity_type, row)
            fields = list(conflict.campos)
            external = {f: conflict.campos[f].get("externo") for f in fields}
            local = {f: local_ext.get(f) for f in fields}
            ext_at = parse_utc(conflict.campos[fields[0]].get("externo_em")) if fields else None
            ctx = self._ctx(entity_type, row.modificado_em, ext_at)
            check = three_way_merge(
                self._merge_base(s, entity_type, link), local, external, self._policy(entity_type), ctx, fields=fields
            )
            if check.conflicts:
                return False
            try:
                remote = self.provider.get(entity_type, link.external_id)
            except NotFoundError:
                self._apply_remote_delete(s, entity_type, link, row, direcao="conflito")
                self._close_conflict(conflict, "sistema", {"motivo": "registro excluído no CRM"})
                return True
            out = self._reconcile(s, entity_type, link, row, remote, direcao="conflito")
            if out.conflicts:
                return False
            if conflict.status == "pendente":
                self._close_conflict(conflict, "sistema", {"motivo": "resolvido pela política configurada"})
            return True
