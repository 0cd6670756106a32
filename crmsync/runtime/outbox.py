"""The trigger outbox: changes the ERP's own code writes, pushed within a second.

`crmsync schema triggers install` puts triggers on the mapped tables that record each
changed key in `crm_erp_outbox` (in the ERP's database). This watcher polls that small
table every `interval` seconds (an indexed read of a table that is empty most of the time),
queues a push of each changed record for the active integrations of the row's own store
that push the entity (a hard-deleted row: those that had linked it), and deletes what it
read. The reconcile still runs behind it: a dropped trigger, a bulk
load or a crash between the read and the delete loses nothing, since a push of a row that
is unchanged is a no-op and the scans are level-triggered.

Without the table (no triggers installed) the watcher looks for it again every
`missing_retry` seconds (2: triggers installed while `serve` runs are used within a few
seconds, no restart) and otherwise does nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

from sqlalchemy import BigInteger, Column, Engine, Integer, MetaData, String, Table, delete, inspect, select
from sqlalchemy.exc import DBAPIError

from crmsync.config import integration_config
from crmsync.erp.table import MappedSchema, active_schema
from crmsync.runtime.enqueue import enqueue_push
from crmsync.runtime.periodic import PeriodicThread
from crmsync.settings import Settings, get_settings

__all__ = ["OUTBOX_TABLE", "OutboxWatcher", "outbox_targets"]

log = logging.getLogger("crmsync.outbox")

OUTBOX_TABLE = "crm_erp_outbox"
BATCH = 1000

_outbox = Table(
    OUTBOX_TABLE,
    MetaData(),
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    Column("tabela", String(64)),
    Column("chave", String(64)),
)


def outbox_targets(schema: MappedSchema) -> dict[str, str]:
    """ERP table name -> entity type (a venda's items table names the venda: the trigger
    writes the venda's key for an item change)."""
    out: dict[str, str] = {}
    for name, ent in schema.entities.items():
        out[ent.table.name] = name
        if ent.items is not None:
            out[ent.items.table.name] = name
    return out


def read_outbox(engine: Engine, schema: MappedSchema, limit: int = BATCH) -> tuple[dict[tuple[str, int], None], int]:
    """(changed (entity, key) pairs in order, the highest outbox id read; 0 = none)."""
    targets = outbox_targets(schema)
    with engine.connect() as conn:
        rows = conn.execute(select(_outbox.c.id, _outbox.c.tabela, _outbox.c.chave).order_by(_outbox.c.id).limit(limit))
        changed: dict[tuple[str, int], None] = {}
        last = 0
        for outbox_id, tabela, chave in rows:
            last = max(last, int(str(outbox_id)))
            entity_type = targets.get(str(tabela))
            key = str(chave).strip()
            if entity_type is None or not key.lstrip("-").isdigit():
                log.warning("outbox: tabela %s / chave %r fora do mapa; ignorada", tabela, chave)
                continue
            changed[(entity_type, int(key))] = None
    return changed, last


def forget_outbox(engine: Engine, last: int) -> None:
    with engine.begin() as conn:
        conn.execute(delete(_outbox).where(_outbox.c.id <= last))


def stores_of(
    engine: Engine, schema: MappedSchema, changed: Iterable[tuple[str, int]]
) -> dict[tuple[str, int], int | None]:
    """The store of each changed row, read from the ERP's table (the map's `loja` column,
    or its fixed store); None for a row that is gone (a hard delete)."""
    by_entity: dict[str, list[int]] = {}
    for entity_type, key in changed:
        by_entity.setdefault(entity_type, []).append(key)
    out: dict[tuple[str, int], int | None] = {}
    for entity_type, keys in by_entity.items():
        ent = schema.entity(entity_type)
        fixed = ent.emap.loja.fixa
        found: dict[int, int] = {}
        with engine.connect() as conn:
            for start in range(0, len(keys), BATCH):
                chunk = keys[start : start + BATCH]
                if fixed is not None:
                    query = select(ent.table.c.id).where(ent.table.c.id.in_(chunk))
                    found.update({int(r[0]): int(fixed) for r in conn.execute(query)})
                else:
                    query = select(ent.table.c.id, ent.table.c.id_loja).where(ent.table.c.id.in_(chunk))
                    found.update({int(r[0]): int(r[1]) for r in conn.execute(query) if r[1] is not None})
        for key in keys:
            out[(entity_type, key)] = found.get(key)
    return out


def _linked(changed: list[tuple[str, int]]) -> dict[tuple[str, int], set[int]]:
    """Integrations that linked each of these rows (where a hard delete must go)."""
    from crmsync.db.session import get_sessionmaker
    from crmsync.db.sync import CrmEntityLink

    out: dict[tuple[str, int], set[int]] = {}
    if not changed:
        return out
    with get_sessionmaker()() as session:
        for entity_type in {e for e, _ in changed}:
            keys = [k for e, k in changed if e == entity_type]
            for start in range(0, len(keys), BATCH):
                rows = session.execute(
                    select(CrmEntityLink.entity_id, CrmEntityLink.id_integracao).where(
                        CrmEntityLink.entity_type == entity_type,
                        CrmEntityLink.entity_id.in_(keys[start : start + BATCH]),
                    )
                )
                for entity_id, integracao in rows:
                    out.setdefault((entity_type, int(entity_id)), set()).add(int(integracao))
    return out


def _enqueue_pushes(changed: dict[tuple[str, int], None]) -> int:
    """Queue a push of each changed row for the integrations of the row's own store only
    (with 50 stores, one ERP change is one job, not 50 with 49 ending `ignorado`); a row
    that is gone goes to the integrations that had linked it."""
    from crmsync.db.session import get_engine, get_sessionmaker  # runtime wiring, imported when used
    from crmsync.db.sync import CrmIntegracao

    with get_sessionmaker()() as session:
        integs = list(session.scalars(select(CrmIntegracao).where(CrmIntegracao.ativo.is_(True))))
    configs = {integ.id: integration_config(integ) for integ in integs}
    stores = stores_of(get_engine(get_settings().resolved_erp_database_url()), active_schema(), changed)
    linked = _linked([k for k, store in stores.items() if store is None])
    queued = 0
    for entity_type, key in changed:
        store = stores.get((entity_type, key))
        for integ in integs:
            mine = integ.id_loja == store if store is not None else integ.id in linked.get((entity_type, key), ())
            if mine and configs[integ.id].syncs(entity_type, "push"):
                queued += int(enqueue_push(integ.id, entity_type, key, trigger="outbox"))
    return queued


class OutboxWatcher(PeriodicThread):
    """A daemon thread polling the outbox; `poll()` can be called directly (tests, bench)."""

    thread_name = "crmsync-outbox"
    failure_message = "falha ao ler o outbox do ERP (tenta de novo)"

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        interval: float = 0.25,
        missing_retry: float = 2.0,
        enqueue: Callable[[dict[tuple[str, int], None]], int] = _enqueue_pushes,
    ) -> None:
        super().__init__(log)
        self.settings = settings or get_settings()
        self.interval = interval
        self.missing_retry = missing_retry
        self.enqueue = enqueue
        self._missing_until = 0.0
        self._engine: Engine | None = None

    def _db(self) -> Engine:
        if self._engine is None:
            from crmsync.db.session import get_engine

            self._engine = get_engine(self.settings.resolved_erp_database_url())
        return self._engine

    def poll(self) -> int:
        """Queue pushes for what the outbox holds; answers how many were queued."""
        now = time.monotonic()
        if now < self._missing_until:
            return 0
        engine = self._db()
        try:
            changed, last = read_outbox(engine, active_schema())
        except DBAPIError:
            if not inspect(engine).has_table(OUTBOX_TABLE):
                self._missing_until = now + self.missing_retry
                return 0
            raise
        if not last:
            return 0
        queued = self.enqueue(changed) if changed else 0
        forget_outbox(engine, last)  # after queueing: a crash in between pushes twice, never lost
        return queued

    def step(self) -> int:
        return self.poll()

    def period(self) -> float:
        return self.interval


def watcher_if_mapped(settings: Settings) -> OutboxWatcher | None:
    """An outbox watcher when crmsync is attached to an ERP's tables (a schema map is set)."""
    return OutboxWatcher(settings) if settings.schema_map.strip() else None
