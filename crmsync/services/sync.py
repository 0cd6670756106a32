"""Sync operations: push one record, import an entity, sync a whole store.

Why operations apart from routes: each route of `crmsync.api.sync` is one thin call into one
plain function here (`push_record`, `import_entity`, `sync_store`), which takes only
serialisable arguments (store id, entity, ids, flags). The CLI calls the same functions,
and the runtime can later enqueue them instead of running them inline without touching the
validation, the store scoping or the error mapping.

Every check that can refuse a request happens before the engine runs, so a refused request
changes nothing: unknown entity (404), record not in this store (404), no integration or a
disabled one (409), an entity configured in the other direction only (409). A provider that
cannot be reached is a 503 (retriable) or 502 (answered nonsense), with the request named
and never a credential.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol, TypedDict, TypeVar, Unpack

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from crmsync.config import ConfigError, integration_config
from crmsync.db.local import Loja
from crmsync.db.session import get_sessionmaker
from crmsync.db.sync import CrmIntegracao
from crmsync.engine import PullResult, PushResult, PushSummary, RunOptions, SyncEngine, SyncResult
from crmsync.erp.table import active_schema
from crmsync.model.canonical import ENTITY_ALIASES, ENTITY_TYPES
from crmsync.providers.base import AuthError, ProtocolError, ProviderError, RateLimitedError, RetriableError
from crmsync.providers.registry import display_name
from crmsync.providers.transport import timeouts_tried_once
from crmsync.runtime.breaker import (
    breaker_after,
    breaker_gate,
    connection_id,
    crm_unreachable,
    release_probe,
    waiting_message,
)
from crmsync.runtime.fairness import IntegrationBusy, integration_turn
from crmsync.runtime.job_records import new_record, read_record
from crmsync.runtime.jobs import enqueue_manual
from crmsync.runtime.jobs.base import record_transport
from crmsync.runtime.options import runtime_options
from crmsync.runtime.queue import get_state
from crmsync.services.errors import InvalidInputError, NotFoundError, ServiceError

ProgressFn = Callable[[dict[str, Any]], None]
DIRECTION_WORDS = {"pull": "somente leitura (só recebe do CRM)", "push": "somente envio (só envia ao CRM)"}


class IntegrationUnavailableError(ServiceError, ValueError):
    """The store has no integration, or it is disabled, or the entity does not sync in the
    asked direction: a configuration state, so 409 (and exit code 2 in the CLI)."""

    status_code = 409


class ProviderUnavailableError(ServiceError):
    """The provider could not be reached or answered nonsense before any work was done."""

    status_code = 503

    def __init__(self, message: str, status_code: int = 503, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.retry_after = retry_after


# ------------------------------------------------------------------------------ operations


def resolve_entity(entity: str) -> str:
    """`cliente`/`clientes` -> `cliente`; anything else is NotFoundError (404 / exit 2)."""
    key = (entity or "").strip().lower()
    if key not in ENTITY_ALIASES:
        raise NotFoundError(f"entidade desconhecida '{entity}' (use cliente, produto ou venda)")
    resolved = ENTITY_ALIASES[key]
    mapped = mapped_entities()
    if resolved not in mapped:  # refused before any work, never half a run then a KeyError
        raise NotFoundError(
            f"entidade '{resolved}' não está no mapa de esquema do ERP (mapeadas: {', '.join(mapped) or 'nenhuma'})"
        )
    return resolved


def mapped_entities() -> list[str]:
    """The entities the active schema map has a table for, in dependency order: attached to
    an ERP without `venda`, a sync runs clientes and produtos and nothing else."""
    entities = active_schema().entities
    return [e for e in ENTITY_TYPES if e in entities]


def _factory(session_factory: sessionmaker[Session] | None) -> sessionmaker[Session]:
    return session_factory or get_sessionmaker()


def find_integration(session: Session, loja_id: int, integracao_id: int | None = None) -> CrmIntegracao:
    """The store's active integration (or the named one of this store), or a Portuguese
    reason why there is none to use."""
    if session.get(Loja, loja_id) is None:
        raise NotFoundError(f"loja {loja_id} não encontrada")
    query = select(CrmIntegracao).where(CrmIntegracao.id_loja == loja_id).order_by(CrmIntegracao.id)
    if integracao_id is not None:
        query = query.where(CrmIntegracao.id == integracao_id)
    rows = list(session.scalars(query))
    if not rows:
        raise IntegrationUnavailableError(
            f"a loja {loja_id} não tem integração com CRM (crie uma com `crmsync integration add`)"
        )
    active = [r for r in rows if r.ativo]
    if not active:
        raise IntegrationUnavailableError(
            f"a integração da loja {loja_id} está desativada (ative com `crmsync integration enable`)"
        )
    preferred = [r for r in active if r.provider == "gestao_click"]
    return (preferred or active)[0]


def _check_direction(integ: CrmIntegracao, entity_type: str, wanted: str) -> None:
    """Refuse a push of a read-only entity (or a pull of a push-only one) up front, so the
    user learns it from the config instead of a run that silently did nothing."""
    try:
        direction = integration_config(integ).direction(entity_type)
    except ConfigError as exc:
        raise IntegrationUnavailableError(f"configuração da integração {integ.id} inválida: {exc}") from None
    if direction != "both" and direction != wanted:
        raise IntegrationUnavailableError(
            f"a entidade {entity_type} está configurada como {DIRECTION_WORDS[direction]} nesta integração"
        )


def _check_local_row(session: Session, loja_id: int, entity_type: str, entity_id: int) -> None:
    ent = active_schema().entity(entity_type)  # the mapped table (ours, or the ERP's)
    found = session.scalar(select(ent.table.c.id).where(ent.table.c.id == entity_id, ent.store_clause(loja_id)))
    if found is None:
        raise NotFoundError(f"{entity_type} {entity_id} não encontrado na loja {loja_id}")


def _options(trigger: str, dry_run: bool, actor: str | None, run_id: str | None) -> Any:
    return RunOptions(trigger=trigger, dry_run=dry_run, actor=actor, run_id=run_id)


@contextmanager
def open_engine(
    loja_id: int,
    *,
    trigger: str = "manual",
    dry_run: bool = False,
    actor: str | None = None,
    run_id: str | None = None,
    progress: ProgressFn | None = None,
    session_factory: sessionmaker[Session] | None = None,
    check: Callable[[Session, CrmIntegracao], None] | None = None,
    integracao_id: int | None = None,
) -> Iterator[SyncEngine]:
    """Validate the store and its integration (plus `check`), then open the engine on it.

    Provider errors raised while opening or running (the whole run could not start: DNS,
    refused connection, bad credentials) become ProviderUnavailableError with a clear
    message; per-item errors stay inside the engine's results.

    The run takes its integration's turn (`crmsync.runtime.fairness`), like every job: it
    waits for a running job of the same integration to end (up to
    `manual_turn_wait_seconds`), then answers 503 with Retry-After.
    """
    factory = _factory(session_factory)
    with factory() as session:
        integ = find_integration(session, loja_id, integracao_id)
        if check is not None:
            check(session, integ)
        integ_id = integ.id
        provider = integ.provider
        conn = connection_id(integ.base_url, integ.credenciais_hash)
    opts = runtime_options()
    state = get_state()
    try:
        with (
            integration_turn(
                state,
                integ_id,
                ttl=opts.lock_ttl_seconds,
                wait=opts.manual_turn_wait_seconds,
                respect_cooldown=False,
            ),
            _breaker(state, integ_id, conn, provider),
            timeouts_tried_once(opts.job_timeout_attempts or None),
            _engine(factory, integ_id, provider, trigger, dry_run, actor, run_id, progress) as engine,
        ):
            try:
                yield engine
            finally:
                breaker_after(state, integ_id, record_transport(state, engine), conn)
    except IntegrationBusy as exc:
        raise ProviderUnavailableError(
            "outra sincronização desta integração está em andamento; tente de novo em instantes",
            503,
            max(1.0, exc.retry_after),
        ) from None


@contextmanager
def _breaker(state: Any, integ_id: int, conn: str, provider: str) -> Iterator[None]:
    """A manual run obeys the integration's breaker like a job (issue #20): while it is open
    the run answers 503 with Retry-After at once, without calling the CRM; its outcome feeds
    the breaker (`open_engine`), so a hung CRM costs one timeout, then the breaker."""
    gate = breaker_gate(state, integ_id, conn)
    if gate.until is not None:
        raise ProviderUnavailableError(
            f"{display_name(provider)}: {waiting_message(gate.reason)}", 503, max(1.0, gate.until - time.time())
        )
    try:
        yield
    finally:
        if gate.probe:
            release_probe(state, integ_id)  # breaker_after settled it already, unless nothing ran


@contextmanager
def _engine(
    factory: sessionmaker[Session],
    integ_id: int,
    provider: str,
    trigger: str,
    dry_run: bool,
    actor: str | None,
    run_id: str | None,
    progress: ProgressFn | None,
) -> Iterator[SyncEngine]:
    try:
        engine = SyncEngine(factory, integ_id, options=_options(trigger, dry_run, actor, run_id), progress=progress)
    except ProviderError as exc:
        raise provider_problem(provider, exc) from None
    engine.provider = ProviderWatch(engine.provider)
    try:
        yield engine
    except ProviderError as exc:
        raise provider_problem(provider, exc) from None
    finally:
        engine.close()


# The provider's methods that send a request to the CRM (not close, webhooks, counters).
_CRM_CALLS = frozenset(
    {
        "list_page",
        "iter_pages",
        "get",
        "create",
        "update",
        "delete",
        "deactivate",
        "find_by_keys",
        "iter_changed",
        "iter_ids",
    }
)


class ProviderWatch:
    """Transparent wrapper of the engine's provider that remembers the last provider-level
    failure (unreachable, 5xx, rate limit, refused credentials, nonsense answers).

    Why: the engine rightly turns every error into a per-item failure and keeps going, so
    a run against a dead provider ends as "all items failed". The caller still needs to say
    *why* (HTTP 503 / 502 with the provider's own message) without parsing messages; this
    records the error's type on the way through and changes nothing else.
    """

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.last_error: ProviderError | None = None

    def _note(self, exc: ProviderError) -> None:
        if exc.retriable or isinstance(exc, AuthError | ProtocolError):
            self.last_error = exc

    def _watch_iter(self, it: Iterator[Any]) -> Iterator[Any]:
        try:
            yield from it
        except ProviderError as exc:
            self._note(exc)
            raise

    def _crm_down(self) -> bool:
        """The CRM answered nothing in this run (timeouts, refused connections, 5xx only): the
        rest of the run then fails at once with that error instead of one more timeout per
        entity (issue #20: one timeout, then the breaker, as in jobs)."""
        exc = self.last_error
        if exc is None or not exc.retriable or isinstance(exc, RateLimitedError):
            return False
        transport = getattr(self._inner, "transport", None) or getattr(self._inner, "_transport", None)
        stats = transport.stats() if transport is not None and hasattr(transport, "stats") else None
        return isinstance(stats, dict) and crm_unreachable(stats)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            if name in _CRM_CALLS and self._crm_down():
                assert self.last_error is not None
                raise RetriableError(str(self.last_error))
            try:
                out = attr(*args, **kwargs)
            except ProviderError as exc:
                self._note(exc)
                raise
            return self._watch_iter(out) if inspect.isgenerator(out) else out

        return call


def raise_if_provider_down(engine: Any, provider: str, failed: bool, progressed: bool) -> None:
    """A failed run that got nothing done because the provider could not be used is not an
    "item error" but an outage: say so (503 retriable / 502 otherwise)."""
    watch = getattr(engine, "provider", None)
    exc = getattr(watch, "last_error", None)
    if failed and not progressed and exc is not None:
        raise provider_problem(provider, exc)


def provider_problem(provider: str, exc: ProviderError) -> ProviderUnavailableError:
    """503 for what may work later (timeouts, 5xx, rate limit), 502 for the rest. The
    message is the provider error's own text, which names the request, never a header."""
    name = display_name(provider)
    status = 503 if exc.retriable else 502
    retry_after = getattr(exc, "retry_after", None)
    return ProviderUnavailableError(f"{name} indisponível ou com erro: {exc}", status, retry_after)


class RunArgs(TypedDict, total=False):
    """How a run was asked for, the same for every operation below (each passes them on
    to `open_engine` as they are): `trigger` (the log's `tipo`, "manual" unless said),
    `dry_run`, `actor`, `run_id`, `progress` and the `session_factory` to use."""

    trigger: str
    dry_run: bool
    actor: str | None
    run_id: str | None
    progress: ProgressFn | None
    session_factory: sessionmaker[Session] | None


class _Outcome(Protocol):
    @property
    def success(self) -> bool: ...


_Result = TypeVar("_Result", bound=_Outcome)


def _run(
    loja_id: int,
    run: RunArgs,
    work: Callable[[SyncEngine], _Result],
    progressed: Callable[[_Result], bool],
    check: Callable[[Session, CrmIntegracao], None] | None = None,
) -> _Result:
    """`work` on the store's engine; a failed run that got nothing done (`progressed`)
    because the provider could not be used is an outage (`raise_if_provider_down`)."""
    with open_engine(loja_id, check=check, **run) as engine:
        result = work(engine)
        raise_if_provider_down(engine, engine.provider_name, not result.success, progressed(result))
        return result


def push_record(loja_id: int, entity: str, entity_id: int, **run: Unpack[RunArgs]) -> PushResult:
    """Push one local record now (spec 2.3, `sincronizarParaExterno`)."""
    entity_type = resolve_entity(entity)

    def check(session: Session, integ: CrmIntegracao) -> None:
        _check_local_row(session, loja_id, entity_type, entity_id)
        _check_direction(integ, entity_type, "push")

    return _run(loja_id, run, lambda engine: engine.push_one(entity_type, entity_id), lambda _r: False, check)


def push_changed(
    loja_id: int, entity: str, *, since: Any = None, all_rows: bool = False, **run: Unpack[RunArgs]
) -> PushSummary:
    """Push rows changed since a time, every row (`all_rows`), or by default every dirty row
    (spec `sincronizarTodosParaCrm`); `trigger` is "bulk" unless said."""
    entity_type = resolve_entity(entity)
    run.setdefault("trigger", "bulk")
    return _run(
        loja_id,
        run,
        lambda engine: engine.push(entity_type, since=since, all_rows=all_rows),
        lambda summary: summary.sucessos > 0,
        lambda _session, integ: _check_direction(integ, entity_type, "push"),
    )


def import_entity(loja_id: int, entity: str, *, full: bool = False, **run: Unpack[RunArgs]) -> PullResult:
    """Pull an entity from the provider (spec 3.3, `sincronizarDoExterno`)."""
    entity_type = resolve_entity(entity)
    return _run(
        loja_id,
        run,
        lambda engine: engine.pull(entity_type, full=full),
        lambda result: result.total_processados > 0,
        lambda _session, integ: _check_direction(integ, entity_type, "pull"),
    )


def sync_store(loja_id: int, entities: list[str] | None = None, **run: Unpack[RunArgs]) -> SyncResult:
    """Push, then pull, then settled conflicts (spec 6.1, `sincronizarBidirecional`)."""
    entity_types = [resolve_entity(e) for e in entities] if entities else mapped_entities()
    return _run(
        loja_id,
        run,
        lambda engine: engine.sync(entity_types),
        lambda result: bool(result.para_crm.get("sucessos")) or bool(result.do_crm.get("total_processados")),
    )


# ------------------------------------------------------------------------------ as jobs


def queue_run(
    loja_id: int,
    kind: str,
    *,
    entity: str | None = None,
    entity_id: int | None = None,
    entities: list[str] | None = None,
    full: bool = False,
    all_rows: bool = False,
    dry_run: bool = False,
    actor: str | None = None,
    integracao_id: int | None = None,
    session_factory: sessionmaker[Session] | None = None,
) -> dict[str, Any]:
    """Validate exactly as the inline operations do, then queue the run as a job (same
    one-turn-per-integration rule as every job); the job's public view (`na_fila`).

    `kind`: `push_one` (entity + entity_id), `push` (entity), `pull` (entity), `sync`."""
    entity_type = resolve_entity(entity) if entity is not None else None
    entity_types = [resolve_entity(e) for e in entities] if entities else None
    if kind == "sync" and entity_types is None:
        entity_types = mapped_entities()
    with _factory(session_factory)() as session:
        integ = find_integration(session, loja_id, integracao_id)
        if kind == "push_one":
            assert entity_type is not None and entity_id is not None
            _check_local_row(session, loja_id, entity_type, entity_id)
        if entity_type is not None and kind != "sync":
            _check_direction(integ, entity_type, "pull" if kind == "pull" else "push")
        integ_id = integ.id
    params: dict[str, Any] = {"dry_run": dry_run, "actor": actor}
    if entity_type is not None:
        params["entity"] = entity_type
    if entity_id is not None:
        params["entity_id"] = int(entity_id)
    if entity_types:
        params["entities"] = entity_types
    if full:
        params["full"] = True
    if all_rows:
        params["all_rows"] = True
    state = get_state()
    job_id = new_record(state, loja_id, integ_id, kind, params)
    if not enqueue_manual(job_id):
        raise ProviderUnavailableError("a fila de jobs está indisponível; tente de novo em instantes", 503, 5.0)
    return job_view(read_record(state, job_id) or {})


def job_view(record: dict[str, Any]) -> dict[str, Any]:
    """A job record as a store sees it (no internal ids beyond its own)."""
    keys = ("id", "tipo", "status", "sucesso", "resultado", "erro", "criado_em", "iniciado_em", "terminado_em")
    view = {k: record.get(k) for k in keys if k in record}
    params = record.get("parametros") or {}
    view["parametros"] = {k: v for k, v in params.items() if k != "actor"}
    return view


def job_status(loja_id: int, job_id: str) -> dict[str, Any]:
    """A job of this store (404 for an unknown id or another store's job)."""
    record = read_record(get_state(), job_id)
    if record is None or record.get("loja_id") != loja_id:
        raise NotFoundError(f"job {job_id} não encontrado")
    return job_view(record)


def wait_job(loja_id: int, job_id: str, timeout: float, poll: float = 0.2) -> dict[str, Any]:
    """The job's view once it has ended, or as it is after `timeout` seconds (still queued or
    running: the caller says so, the job goes on)."""
    deadline = time.monotonic() + timeout
    while True:
        view = job_status(loja_id, job_id)
        if view.get("status") in ("concluido", "erro") or time.monotonic() >= deadline:
            return view
        time.sleep(poll)


__all__ = [
    "IntegrationUnavailableError",
    "InvalidInputError",
    "ProviderUnavailableError",
    "find_integration",
    "import_entity",
    "job_status",
    "open_engine",
    "push_changed",
    "push_record",
    "queue_run",
    "resolve_entity",
    "sync_store",
    "wait_job",
]
