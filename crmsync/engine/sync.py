"""The engine as the CLI, the API and the workers see it (docs/ENGINE_CONTRACT.md).

`sync()` is the spec's `sincronizarBidirecional` (section 6.1): push (parents before
children: cliente, produto, venda), then pull in the same order, then the settled-conflicts
pass, with one summary in the spec's shape.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from crmsync.db.sync import CrmDuplicata, CrmIntegracao
from crmsync.engine.conflicts import ConflictsMixin
from crmsync.engine.pull import PullMixin, _PullRun
from crmsync.engine.push import PushMixin
from crmsync.engine.results import PullResult, PushSummary, SyncResult
from crmsync.model.canonical import ENTITY_TYPES

__all__ = ["SyncEngine"]


class SyncEngine(PushMixin, PullMixin, ConflictsMixin):
    """Push, pull, sync, conflict and duplicate decisions for one integration."""

    @classmethod
    def for_store(
        cls, session_factory: sessionmaker[Session], loja_id: int, provider_key: str = "gestao_click", **kw: Any
    ) -> SyncEngine:
        with session_factory() as s:
            integ = s.scalars(
                select(CrmIntegracao).where(CrmIntegracao.id_loja == loja_id, CrmIntegracao.provider == provider_key)
            ).first()
            if integ is None:
                raise LookupError(f"Integração não encontrada para a loja {loja_id} ({provider_key})")
            if not integ.ativo:
                raise ValueError("Integração não ativa")
            integracao_id = integ.id
        return cls(session_factory, integracao_id, **kw)

    def __enter__(self) -> SyncEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ sync

    def entity_types(self, wanted: list[str] | None = None) -> list[str]:
        supported = set(getattr(self.provider.capabilities, "entities", ENTITY_TYPES))
        chosen = wanted or list(ENTITY_TYPES)
        for entity_type in chosen:
            if entity_type not in ENTITY_TYPES:
                raise ValueError(f"entidade desconhecida '{entity_type}' (use cliente, produto ou venda)")
        return [e for e in ENTITY_TYPES if e in chosen and e in supported]

    def sync(self, entity_types: list[str] | None = None) -> SyncResult:
        started = time.perf_counter()
        first_plan = len(self.planned)
        types = self.entity_types(entity_types)
        result = SyncResult(run_id=self.run_id)
        push_total = PushSummary()
        push_by_entity: dict[str, Any] = {}
        for entity_type in types:
            summary = self.push(entity_type)
            push_by_entity[entity_type] = summary.as_dict()
            for item in summary.itens:
                push_total.add(item)
        pull_total = PullResult()
        pull_by_entity: dict[str, Any] = {}
        for entity_type in types:
            pulled = self.pull(entity_type)
            pull_by_entity[entity_type] = pulled.as_dict()
            pull_total.merge_from(pulled)
        conflitos = self.settle_conflicts(types)
        para = push_total.as_dict()
        para.pop("itens")
        para["por_entidade"] = push_by_entity
        do = pull_total.as_dict()
        do.pop("planned")
        do["por_entidade"] = pull_by_entity
        result.para_crm = para
        result.do_crm = do
        result.conflitos = conflitos
        result.success = push_total.success and pull_total.success
        result.planned = self.planned[first_plan:]
        with self._uow():
            scope = types[0] if len(types) == 1 else "todas"
            self.log.add(
                direcao="sync",
                operacao="sync",
                entity_type=scope,
                status="sucesso" if result.success else "erro",
                mensagem=(
                    f"{', '.join(types)}: para o CRM: {push_total.sucessos} ok, "
                    f"{push_total.erros} erros; "
                    f"do CRM: {pull_total.total_processados} processados, "
                    f"{len(pull_total.erros)} erros; "
                    f"conflitos pendentes: {conflitos['pendentes']}"
                ),
                duracao_ms=int((time.perf_counter() - started) * 1000),
            )
        return result

    # ------------------------------------------------------------------ duplicates

    def resolve_duplicate(self, duplicata_id: int, action: str, actor: str | None = None) -> dict[str, Any]:
        """'vincular': the two are the same record: link them and merge (no base, so a
        filled value is never erased). 'descartar': they are different: import the external
        record as a new local one (it was held back while the suggestion was pending)."""
        who = actor or self.options.actor or "desconhecido"
        if action not in ("vincular", "descartar"):
            raise ValueError("ação deve ser 'vincular' ou 'descartar'")
        with self.session_factory() as s:
            dup = s.get(CrmDuplicata, duplicata_id)
            if dup is None or dup.id_loja != self.id_loja or dup.id_integracao != self.integracao_id:
                raise LookupError(f"Duplicata {duplicata_id} não encontrada")
            if dup.status != "pendente":
                raise ValueError(f"Duplicata {duplicata_id} já foi decidida ({dup.status})")
            entity_type, entity_id, external_id = dup.entity_type, dup.entity_id, dup.external_id
        # Every CRM call of a decision happens with no transaction open: the record and a
        # venda's references are read first, a merge that must write the CRM is pushed after.
        remote = self.provider.get(entity_type, external_id)
        self._dep_runs = {}
        if entity_type == "venda":
            self._fetch_references([remote])
        run = _PullRun(entity_type, PullResult())
        with self._uow() as s:
            dup = s.get(CrmDuplicata, duplicata_id)
            assert dup is not None
            existing = self.binder.by_external(s, entity_type, external_id)
            local_id: int | None
            if action == "vincular":
                if existing is not None:
                    raise ValueError(
                        f"o registro externo {external_id} já está vinculado ao local #{existing.entity_id}"
                    )
                if self.binder.by_local(s, entity_type, entity_id) is not None:
                    raise ValueError(f"o registro local #{entity_id} já está vinculado a outro registro externo")
                row = self.repo.get(s, entity_type, entity_id)
                if row is None:
                    raise LookupError(f"{entity_type} #{entity_id} não encontrado")
                with s.begin_nested():
                    local_id = self._retro_link(s, run, remote, entity_id, "revisão de duplicata")
                dup.status = "vinculado"
            else:
                dup.status = "descartado"
                local_id = existing.entity_id if existing is not None else None
                others = s.scalars(
                    select(CrmDuplicata).where(
                        CrmDuplicata.id_integracao == self.integracao_id,
                        CrmDuplicata.entity_type == entity_type,
                        CrmDuplicata.external_id == external_id,
                        CrmDuplicata.status == "pendente",
                        CrmDuplicata.id != duplicata_id,
                    )
                )
                for other in others:
                    other.status = "descartado"
                    other.resolvido_por = who
                    other.resolvido_em = datetime.now(UTC)
                if existing is None:
                    with s.begin_nested():
                        local_id = self._create_local(s, run, remote)
            dup.resolvido_por = who
            dup.resolvido_em = datetime.now(UTC)
            self.log.success(
                "pull",
                "duplicata",
                entity_type,
                entity_id=local_id,
                external_id=external_id,
                mensagem=f"duplicata #{duplicata_id}: {action} por {who}",
            )
        self._push_deferred(run)
        return {
            "success": True,
            "duplicata_id": duplicata_id,
            "status": "vinculado" if action == "vincular" else "descartado",
            "entity_type": entity_type,
            "entity_id": local_id,
            "external_id": external_id,
            "resolvido_por": who,
        }
