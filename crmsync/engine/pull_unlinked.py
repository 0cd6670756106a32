"""Pull, the CRM records with no link yet: link to the local row holding the same unique
key (with the base a lost create of ours left, when it is one), suggest a possible
duplicate for review, or create the local row (batched per page); a venda's references are
imported first. Also the per-item bookkeeping of a pull (failed and recovered items).

Split from :mod:`crmsync.engine.pull` (which keeps the run, its pages and linked records).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from crmsync.db.bulk import bulk_insert
from crmsync.db.sync import CrmDuplicata, CrmEntityLink
from crmsync.engine.base import EngineBase, RemoteWriteNeeded
from crmsync.engine.intents import intent_base
from crmsync.engine.local_repo import UnresolvedReference, complete_canonical
from crmsync.engine.pull_run import _PullRun
from crmsync.engine.results import PullResult
from crmsync.engine.unique_keys import store_ignored_keys
from crmsync.matching import ExactIndex, MatchIndex, ignored_keys
from crmsync.model.canonical import canonical_hash, canonicalize
from crmsync.providers.base import (
    NotFoundError,
    ProviderError,
    RemoteRecord,
    error_message,
)

__all__ = ["PullUnlinkedMixin"]


class PullUnlinkedMixin(EngineBase):
    _dep_runs: dict[str, _PullRun]

    def _item_failed(
        self,
        s: Session,
        run: _PullRun,
        external_id: str,
        modified_at: datetime | None,
        message: str,
        exc: BaseException | None = None,
    ) -> None:
        run.result.error(external_id, message, exc)
        if modified_at is None:
            run.failed_without_time = True
        elif run.oldest_failed is None or modified_at < run.oldest_failed:
            run.oldest_failed = modified_at
        self.log.error("pull", run.entity_type, message, external_id=external_id)
        self.failed.failed(
            s,
            entity_type=run.entity_type,
            direcao="pull",
            entity_id=None,
            external_id=external_id,
            error=message,
            changed_at=modified_at,
        )

    def _item_ok(self, s: Session, run: _PullRun, external_id: str) -> None:
        self.failed.succeeded(s, entity_type=run.entity_type, direcao="pull", entity_id=None, external_id=external_id)

    # ------------------------------------------------------------------ linked

    # ------------------------------------------------------------------ unlinked

    def _ensure_indexes(self, s: Session, run: _PullRun) -> None:
        if run.exact is not None:
            return
        entity_type = run.entity_type
        ignored = ignored_keys(self.config.chaves_ignoradas)
        run.exact = ExactIndex(entity_type, ignored)
        run.fuzzy = MatchIndex(entity_type, ignored)
        linked = self.binder.linked_local_ids(s, entity_type)
        ent = self.repo.entity(entity_type)
        names: tuple[str, ...] = {
            "cliente": ("email", "cpf", "cnpj", "nome", "razao_social"),
            "produto": ("codigo", "codigo_barra", "nome"),
        }.get(entity_type, ("codigo",))
        fields = {name: ent.emap.campos[name] for name in names if name in ent.emap.campos}
        columns = list(dict.fromkeys(f.coluna for f in fields.values()))
        cols = (ent.table.c.id, *(ent.table.c[ent.shape.keys[c]] for c in columns))
        live = select(*cols).where(self.repo.store_clause(entity_type), self.repo.live_clause(entity_type))
        for row in s.execute(live.execution_options(yield_per=2000)):  # streamed: a 100k store is ~25 MB at once
            canon = _index_values(fields, dict(zip(columns, row[1:], strict=True)))
            run.exact.add(row[0], canon)
            if row[0] not in linked:
                run.fuzzy.add(row[0], canon)
        run.dismissed = set(
            s.scalars(
                select(CrmDuplicata.external_id).where(
                    CrmDuplicata.id_integracao == self.integracao_id,
                    CrmDuplicata.entity_type == entity_type,
                    CrmDuplicata.status == "descartado",
                )
            )
        )

    def _pull_unlinked(self, s: Session, run: _PullRun, record: RemoteRecord, *, batch: bool) -> int | None:
        """Link to an existing local row, suggest a duplicate, or create. Returns the local
        id now linked to the record (None when it awaits review or is batched)."""
        entity_type = run.entity_type
        result = run.result
        self._ensure_indexes(s, run)
        assert run.exact is not None and run.fuzzy is not None
        data = record.data
        pairs = run.exact.pairs(data)
        hit = run.exact.find_pairs(pairs)
        if hit is not None and hit[0] < 0:
            self._flush_creates(s, run)  # the twin is in this page's pending batch
            hit = run.exact.find_pairs(pairs)
        if hit is not None:
            local_id, key = hit
            with s.begin_nested():
                other = self.binder.by_local(s, entity_type, local_id)
                if other is not None:
                    self._suggest_duplicate(
                        s,
                        entity_type,
                        local_id,
                        record,
                        1.0,
                        f"mesmo {key} do registro local #{local_id}, já vinculado a {other.external_id}",
                    )
                    self.log.skipped(
                        "pull",
                        entity_type,
                        f"possível duplicata (mesmo {key}): aguardando revisão",
                        entity_id=local_id,
                        external_id=record.external_id,
                    )
                    result.total_ignorados += 1
                    return None
                linked_id = self._retro_link(s, run, record, local_id, key)
            self._item_ok(s, run, record.external_id)
            return linked_id
        if len(run.fuzzy) and record.external_id not in run.dismissed and entity_type != "venda":
            candidates = run.fuzzy.fuzzy(data, self.config.similaridade_duplicata, limit=1)
            if candidates:
                best = candidates[0]
                with s.begin_nested():
                    self._suggest_duplicate(s, entity_type, best.local_id, record, best.score, best.reason)
                    self.log.skipped(
                        "pull",
                        entity_type,
                        f"possível duplicata ({best.score:.0%}): aguardando revisão",
                        entity_id=best.local_id,
                        external_id=record.external_id,
                    )
                result.total_ignorados += 1
                return None
        if batch and entity_type != "venda":
            run.temp_ids += 1
            run.exact.add_pairs(-run.temp_ids, pairs)
            run.creates.append((record, pairs))
            return None
        with s.begin_nested():
            local_id = self._create_local(s, run, record)
        self._item_ok(s, run, record.external_id)
        return local_id

    def _retro_link(self, s: Session, run: _PullRun, record: RemoteRecord, local_id: int, key: str) -> int:
        """Spec 7.4: the same record exists on both sides without a link: link, then merge
        with no base (a filled value never gets erased; real differences follow the policy)."""
        entity_type = run.entity_type
        row = self.repo.get(s, entity_type, local_id)
        if entity_type == "venda":
            self._import_references(s, record)
        # the record a lost create of ours made (it matches the stored intent): what was sent is the base
        base = intent_base(self.intents.take(s, entity_type, local_id), record.data)
        link = self.binder.create(
            s,
            self.binder.new_link(
                entity_type,
                local_id,
                record.external_id,
                base=base,
                local_hash=None,
                remote_version=None,
                remote_modified_at=None,
            ),
        )
        self.log.success(
            "pull",
            "link",
            entity_type,
            entity_id=local_id,
            external_id=record.external_id,
            mensagem=f"criado por esta integração (resposta perdida): vínculo pelo campo {key}"
            if base is not None
            else f"vínculo retroativo pelo campo {key}",
        )
        self._plan(
            "vinculo", "link", entity_type, entity_id=local_id, external_id=record.external_id, motivo=f"mesmo {key}"
        )
        run.result.total_vinculados += 1
        if run.fuzzy is not None:
            run.fuzzy.remove(local_id)
        # A write to the CRM the merge needs waits for a staged push after this chunk (the
        # link stays); references a venda pulls in are merged here, as before.
        try:
            out = self._reconcile(s, entity_type, link, row, record, direcao="pull")
        except RemoteWriteNeeded:
            run.deferred.append(local_id)
            return local_id
        if out.conflicts:
            run.result.total_conflitos += 1
        return local_id

    def _local_values(
        self, s: Session, entity_type: str, record: RemoteRecord
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """(full canonical record in the external namespace, same in the local namespace)."""
        if entity_type == "venda":
            self._import_references(s, record)
        full_ext = canonicalize(entity_type, record.data)
        return full_ext, self.repo.to_local_refs(s, entity_type, full_ext)

    def _create_local(self, s: Session, run: _PullRun, record: RemoteRecord) -> int:
        entity_type = run.entity_type
        full_ext, values = self._local_values(s, entity_type, record)
        row = self.repo.new_row(entity_type, values)
        s.add(row)
        s.flush()
        self.binder.create(
            s,
            self.binder.new_link(
                entity_type,
                row.id,
                record.external_id,
                base=full_ext,
                local_hash=self.repo.row_hash(entity_type, row),
                remote_version=record.version,
                remote_modified_at=record.modified_at,
            ),
        )
        self._after_create(run, record, row.id, full_ext)
        return int(row.id)

    def _after_create(
        self,
        run: _PullRun,
        record: RemoteRecord,
        local_id: int,
        full_ext: dict[str, Any],
        pairs: list[tuple[str, str]] | None = None,
    ) -> None:
        """Count, log and index a new local row (``pairs``: its unique keys, when the
        caller normalised them already)."""
        self._plan("local", "create", run.entity_type, external_id=record.external_id, campos=full_ext)
        if run.exact is not None:
            run.exact.add_pairs(local_id, run.exact.pairs(full_ext) if pairs is None else pairs)
        run.result.total_criados += 1
        self.log.success("pull", "create", run.entity_type, entity_id=local_id, external_id=record.external_id)

    def _flush_creates(self, s: Session, run: _PullRun) -> None:
        """Create the batched new records of a page with Core inserts (the ORM's per-object
        bookkeeping was most of the cost of a large first pull), then their links in one
        multi-row INSERT. A unique violation (someone linked concurrently) sends the page's
        new records through the one-savepoint-per-record path instead."""
        pending, run.creates = run.creates, []
        if not pending:
            return
        entity_type = run.entity_type
        prepared: list[tuple[RemoteRecord, dict[str, Any], list[tuple[str, str]]]] = []
        for record, pairs in pending:
            try:
                prepared.append((record, complete_canonical(entity_type, record.data), pairs))
            except ValueError as exc:
                self._item_failed(s, run, record.external_id, record.modified_at, error_message(exc), exc)
        params: list[dict[str, Any]] = []
        fitting: list[tuple[RemoteRecord, dict[str, Any], list[tuple[str, str]]]] = []
        ignored = store_ignored_keys(s, self.id_loja) if self.repo.keeps_keys(entity_type) else frozenset()
        for item in prepared:
            try:  # a value the mapped column cannot hold fails that record only
                params.append(self.repo.insert_params(entity_type, item[1], ignored))
                fitting.append(item)
            except ValueError as exc:
                self._item_failed(s, run, item[0].external_id, item[0].modified_at, error_message(exc), exc)
        prepared = fitting
        if not prepared:
            return
        now = datetime.now(UTC)
        try:
            with s.begin_nested():
                s.flush()  # ORM objects pending in this transaction go first, as an ORM insert would
                ids = self.repo.insert_rows(s, entity_type, params, self.repo.insert_constants(entity_type, now))
                hashes = self.repo.stored_hashes(s, entity_type, ids)
                bulk_insert(
                    s.connection(),
                    cast(Table, CrmEntityLink.__table__),
                    [
                        {
                            "entity_id": row_id,
                            "external_id": record.external_id,
                            "base_snapshot": full,
                            "base_hash": canonical_hash(full),
                            "local_hash": hashes[row_id],
                            "remote_version": record.version,
                            "remote_modificado_em": record.modified_at,
                        }
                        for (record, full, _pairs), row_id in zip(prepared, ids, strict=True)
                    ],
                    {
                        "id_loja": self.id_loja,
                        "id_integracao": self.integracao_id,
                        "provider": self.provider_name,
                        "entity_type": entity_type,
                        "status": "sincronizado",
                        "sincronizado_em": now,
                        "cadastrado_em": now,
                    },
                )
        except DBAPIError:  # a unique violation, or a value an ERP column refused
            for record, _full, _pairs in prepared:  # slow path: find which one collides
                try:
                    with s.begin_nested():
                        self._create_local(s, run, record)
                    self._item_ok(s, run, record.external_id)
                except Exception as exc:
                    self._item_failed(s, run, record.external_id, record.modified_at, error_message(exc), exc)
            return
        for (record, full, pairs), row_id in zip(prepared, ids, strict=True):
            self._after_create(run, record, row_id, full, pairs)
            self._item_ok(s, run, record.external_id)

    # ------------------------------------------------------------------ sales references

    def _fetch_references(self, records: list[RemoteRecord]) -> None:
        """Read from the CRM, with no transaction open, the cliente and produtos that these
        vendas reference and that are not linked yet (looked up in a short read first);
        :meth:`_import_references` then imports them inside the chunk's transaction without
        calling the CRM. A failed read is kept and fails only the vendas that need it."""
        refs = dict.fromkeys(ref for record in records for ref in _references(record))
        with self._read() as s:
            missing = [(t, e) for t, e in refs if self.binder.by_external(s, t, e) is None]
        self._fetched_refs: dict[tuple[str, str], RemoteRecord | Exception] = {}
        for ref_type, ext_id in missing:
            try:
                self._fetched_refs[(ref_type, ext_id)] = self.provider.get(ref_type, ext_id)
            except ProviderError as exc:
                self._fetched_refs[(ref_type, ext_id)] = exc

    def _import_references(self, s: Session, record: RemoteRecord) -> None:
        """A pulled venda's cliente and produtos must be linked locally: import the missing
        ones (read by :meth:`_fetch_references` before this transaction) through the same
        unlinked-record pipeline."""
        fetched = getattr(self, "_fetched_refs", {})
        for ref_type, ext_id in _references(record):
            link = self.binder.by_external(s, ref_type, ext_id)
            if link is not None:
                continue
            ref = fetched.get((ref_type, ext_id))
            if isinstance(ref, NotFoundError):
                raise UnresolvedReference(ref_type, ext_id, "externo")
            if isinstance(ref, Exception):
                raise ValueError(f"{ref_type} externo {ext_id} não pôde ser lido do CRM: {error_message(ref)}")
            if ref is None:  # unlinked after the read before this transaction: the next run imports it
                raise ValueError(
                    f"{ref_type} externo {ext_id} referenciado pela venda {record.external_id} ainda não foi "
                    "lido do CRM; será importado na próxima execução"
                )
            dep_run = self._dep_runs.get(ref_type)
            if dep_run is None:
                dep_run = self._dep_runs[ref_type] = _PullRun(ref_type, PullResult())
            local_id = self._pull_unlinked(s, dep_run, ref, batch=False)
            if local_id is None:
                raise ValueError(
                    f"{ref_type} externo {ext_id} referenciado pela venda {record.external_id} é uma "
                    "possível duplicata aguardando revisão; a venda será importada depois da decisão"
                )


def _index_values(fields: dict[str, Any], raw: dict[str, Any]) -> dict[str, Any]:
    """The matching keys of a local row, canonical; a value that does not convert is left
    out of the index (that row fails on its own when it is pushed)."""
    out: dict[str, Any] = {}
    for name, fmap in fields.items():
        try:
            out[name] = fmap.converter.to_canonical(raw.get(fmap.coluna))
        except ValueError:
            out[name] = None
    return out


def _references(record: RemoteRecord) -> list[tuple[str, str]]:
    """The (entity type, external id) a venda from the CRM points at, once each."""
    refs: list[tuple[str, str]] = []
    if record.data.get("cliente_id") is not None:
        refs.append(("cliente", str(record.data["cliente_id"])))
    for item in record.data.get("itens") or []:
        refs.append(("produto", str(item["produto_id"])))
    return list(dict.fromkeys(refs))
