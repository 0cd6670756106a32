"""Task-queue jobs: push one record, pull an entity, pull one record (webhooks), reconcile an
integration, retry failed items.

Every job is safe to run twice and to be killed half way (the engine's writes are
idempotent and level-triggered; see ARCHITECTURE.md), so the queue only needs
at-least-once delivery. What the jobs add on top of the engine:

- **Locks.** Jobs for one record (store, provider, entity, local id / external id) never run
  at the same time, nor two pulls of one (integration, entity). Work that may *create* a
  record (an unlinked push, an unlinked webhook pull) also takes the entity's pull lock, so a
  running page scan cannot import the same record while it is being created on the other
  side (the classic duplicate of connector-magento #165). Locks expire, so a worker killed
  with SIGKILL frees them after `lock_ttl_seconds`.
- **Coalescing.** A "queued" marker per record/entity: ten saves of one row before its job
  starts queue one job (the job clears the marker only once it holds the lock, so a save
  made while it runs queues a new one). The marker expires, so a job lost in a crash is
  queued again by the next sweep.
- **Failed items** (`crm_itens_falhos`): an item that fails is retried with exponential
  backoff, then parked as `falhou` with its last error until `crmsync retry`/`ignore`.
- **Counters** for `/metrics` in the shared runtime state (jobs by status, provider HTTP
  requests by status, 429s), so every worker process contributes.

Task bodies take only ids (never ORM objects or secrets): the queue stores arguments in
clear text.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from huey import Huey
from huey.exceptions import RetryTask
from sqlalchemy import func, or_, select, type_coerce
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from crmsync.db.sync import CrmCursor, CrmEntityLink, CrmIntegracao, CrmItemFalho, CrmWebhookInbox
from crmsync.db.types import utcnow
from crmsync.engine.results import UNKNOWN_EXTERNAL_ID
from crmsync.runtime.locks import LockBusy, hold, pull_key, record_key
from crmsync.runtime.options import RuntimeOptions
from crmsync.runtime.state import RuntimeState

log = logging.getLogger("crmsync.jobs")

ENTITY_ORDER = ("cliente", "produto", "venda")
RECURSO_TO_ENTITY = {
    "clientes": "cliente",
    "produtos": "produto",
    "vendas": "venda",
    "cliente": "cliente",
    "produto": "produto",
    "venda": "venda",
}

# Queue priorities: what a person is waiting for first, bulk scans last.
PRIORITY_PUSH = 20
PRIORITY_WEBHOOK = 15
PRIORITY_RETRY = 10
PRIORITY_RECONCILE = 5
PRIORITY_PULL = 0

BUSY_RETRY_SECONDS = 1.0
LOCK_WAIT_SECONDS = 3.0  # record locks: wait this long before going back through the queue
_WORKER_ID = f"{socket.gethostname()}-{os.getpid()}"


# ----------------------------------------------------------------------------- context


def _settings_objs() -> tuple[sessionmaker[Session], RuntimeState, RuntimeOptions]:
    from crmsync.db.session import get_sessionmaker
    from crmsync.runtime.options import runtime_options
    from crmsync.runtime.queue import get_state

    return get_sessionmaker(), get_state(), runtime_options()


def _count(state: RuntimeState, job: str, status: str) -> None:
    try:
        state.incr(f"jobs:{job}:{status}")
        state.incr(f"worker:{_WORKER_ID}:{job}")
    except Exception:  # metrics must never fail a job
        log.debug("contador indisponível", exc_info=True)


def _record_transport(state: RuntimeState, engine: Any) -> dict[str, Any]:
    """Add the engine's HTTP statistics (per job, fresh transport) to the shared counters."""
    try:
        provider = getattr(engine, "provider", None) or getattr(engine, "_provider", None)
        transport = getattr(provider, "transport", None) or getattr(provider, "_transport", None)
        stats = transport.stats() if transport is not None and hasattr(transport, "stats") else None
        if not stats:
            return {}
        key = getattr(provider, "key", "provider")
        for status, n in (stats.get("by_status") or {}).items():
            if n:
                state.incr(f"http:{key}:{status}", int(n))
        if stats.get("rate_limited"):
            state.incr(f"http429:{key}", int(stats["rate_limited"]))
        if stats.get("quota_refused"):
            state.incr(f"quota_refused:{key}", int(stats["quota_refused"]))
        return dict(stats)
    except Exception:
        log.debug("estatísticas HTTP indisponíveis", exc_info=True)
        return {}


# ----------------------------------------------------------------------------- circuit breaker
#
# When the CRM is unreachable (connection refused, timeouts, 5xx), sending every queued job
# to it only piles up retries (and, on SQLite, keeps the engine's write transaction open
# while the transport backs off). After a job fails that way the integration's breaker
# opens: jobs wait (as failed items due when it closes) without calling the CRM, then one
# job probes; each failed probe doubles the wait (15 s, then up to five minutes by default). Polling is skipped
# while it is open. A success closes it.


def _crm_unreachable(stats: dict[str, Any]) -> bool:
    """The CRM did not answer at all: connection failures, timeouts or 5xx, and no other answer.

    A flaky CRM (some 5xx among successes) is left to the transport's retries; only one that
    answered nothing useful opens the breaker."""
    by_status = {str(k): int(v or 0) for k, v in (stats.get("by_status") or {}).items()}
    answered = sum(n for code, n in by_status.items() if not code.startswith("5"))
    failures = int(stats.get("connection_errors") or 0) + int(stats.get("timeouts") or 0)
    failures += sum(n for code, n in by_status.items() if code.startswith("5"))
    return failures > 0 and answered == 0


def breaker_open_until(state: RuntimeState, integracao_id: int) -> float | None:
    try:
        data = state.get_json(f"breaker:{integracao_id}")
    except Exception:
        return None
    if isinstance(data, dict) and float(data.get("until", 0)) > time.time():
        return float(data["until"])
    return None


def _breaker_after(state: RuntimeState, integracao_id: int, ok: bool, stats: dict[str, Any]) -> None:
    try:
        key = f"breaker:{integracao_id}"
        if ok:
            if state.get_json(key):
                state.set_json(key, None)
            return
        if not _crm_unreachable(stats):
            return
        previous = state.get_json(key) or {}
        from crmsync.runtime.options import runtime_options

        opts = runtime_options()
        window = min(opts.breaker_max_seconds, max(opts.breaker_first_seconds, float(previous.get("window", 0)) * 2))
        state.set_json(key, {"until": time.time() + window, "window": window})
        log.warning("CRM da integração %s inacessível: novas tentativas em %.0f s", integracao_id, window)
    except Exception:
        log.debug("disjuntor indisponível", exc_info=True)


def _integration(session: Session, integracao_id: int) -> CrmIntegracao | None:
    integ = session.get(CrmIntegracao, integracao_id)
    if integ is None or not integ.ativo:
        return None
    return integ


def _config(integ: CrmIntegracao) -> Any:
    from crmsync.config import parse_config

    return parse_config(integ.config or {})


def entities_of(integ: CrmIntegracao) -> list[str]:
    """Entities the integration syncs, in dependency order (customers and products first);
    attached to an ERP, only those its schema map has a table for."""
    from crmsync.erp.table import active_schema  # imported when used (start-up time)

    mapped = active_schema().entities
    cfg = _config(integ)
    if cfg.entidades:
        return [e for e in ENTITY_ORDER if e in cfg.entidades and e in mapped]
    return [e for e in ENTITY_ORDER if e in mapped]


def _can(integ: CrmIntegracao, entity_type: str, direction: str) -> bool:
    if entity_type not in entities_of(integ):
        return False
    return str(_config(integ).direction(entity_type)) in ("both", direction)


def _open_engine(session_factory: sessionmaker[Session], integracao_id: int, trigger: str) -> Any:
    from crmsync.engine import RunOptions, SyncEngine

    return SyncEngine(session_factory, integracao_id, options=RunOptions(trigger=trigger))


def _link_for_local(session: Session, integ: CrmIntegracao, entity_type: str, entity_id: int) -> CrmEntityLink | None:
    return session.scalar(
        select(CrmEntityLink).where(
            CrmEntityLink.id_loja == integ.id_loja,
            CrmEntityLink.provider == integ.provider,
            CrmEntityLink.entity_type == entity_type,
            CrmEntityLink.entity_id == entity_id,
        )
    )


def _link_for_external(
    session: Session, integ: CrmIntegracao, entity_type: str, external_id: str
) -> CrmEntityLink | None:
    return session.scalar(
        select(CrmEntityLink).where(
            CrmEntityLink.id_loja == integ.id_loja,
            CrmEntityLink.provider == integ.provider,
            CrmEntityLink.entity_type == entity_type,
            CrmEntityLink.external_id == str(external_id),
        )
    )


def _pending_key(kind: str, *parts: object) -> str:
    return "pending:" + kind + ":" + ":".join(str(p) for p in parts)


# ----------------------------------------------------------------------------- failed items


def _backoff(opts: RuntimeOptions, attempts: int) -> float:
    return min(opts.retry_max_seconds, opts.retry_base_seconds * (2 ** max(0, attempts - 1)))


def note_failure(
    session: Session,
    integ: CrmIntegracao,
    entity_type: str,
    direcao: str,
    *,
    entity_id: int | None,
    external_id: str | None,
    error: str,
    opts: RuntimeOptions,
    retry_after: float | None = None,
    engine_counted: bool = False,
    quota: bool = False,
) -> CrmItemFalho:
    """Schedule the next attempt of a failed item, or park it as `falhou` after the last one.

    The engine itself records item failures it catches (it counts the attempt and keeps the
    error: `engine_counted`); failures that escaped it are counted here. A refusal by the
    daily-quota guard (the engine's `quota_exhausted` flag, or `RateLimitedError`) is not the
    item's fault: it is not counted, and the item waits for the provider's next day.

    Episodes, as in the engine's `FailedItems`: a failure after `resolvido` starts a new
    episode (the attempts of resolved episodes do not count). An `ignorado` item stays
    ignored and untouched (its `atualizado_em` keeps meaning "ignored at"); only the engine,
    which knows when the record was modified, re-opens it when the record changed since.
    """
    chave = f"local:{entity_id}" if direcao == "push" else f"externo:{external_id}"
    item: CrmItemFalho | None = None
    for _ in range(2):
        item = session.scalar(
            select(CrmItemFalho).where(
                CrmItemFalho.id_integracao == integ.id,
                CrmItemFalho.entity_type == entity_type,
                CrmItemFalho.direcao == direcao,
                CrmItemFalho.chave == chave,
            )
        )
        if item is None:
            item = CrmItemFalho(
                id_loja=integ.id_loja,
                id_integracao=integ.id,
                entity_type=entity_type,
                direcao=direcao,
                chave=chave,
                entity_id=entity_id,
                external_id=external_id,
                tentativas=0,
                status="pendente",
            )
            session.add(item)
        if item.status == "resolvido" and not engine_counted:
            item.tentativas = 0  # a new episode (the engine resets it itself when it counted)
        if item.status != "ignorado":
            item.ultimo_erro = error[:4000]
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
                wait = retry_after if retry_after is not None else _backoff(opts, item.tentativas or 1)
                item.proxima_tentativa = utcnow() + timedelta(seconds=wait)
        try:
            session.commit()
            return item
        except IntegrityError:  # another job inserted the same item a moment ago
            session.rollback()
    raise RuntimeError(f"item falho {chave} não gravado")


def note_success(
    session: Session,
    integ: CrmIntegracao,
    entity_type: str,
    direcao: str,
    *,
    entity_id: int | None = None,
    external_id: str | None = None,
) -> None:
    keys = []
    if direcao == "push" and entity_id is not None:
        keys.append(f"local:{entity_id}")
    if external_id is not None:
        keys.append(f"externo:{external_id}")
    if not keys:
        return
    items = session.scalars(
        select(CrmItemFalho).where(
            CrmItemFalho.id_integracao == integ.id,
            CrmItemFalho.entity_type == entity_type,
            CrmItemFalho.direcao == direcao,
            CrmItemFalho.chave.in_(keys),
            # A success also ends an ignored episode: a later failure is a new problem.
            CrmItemFalho.status.in_(("pendente", "falhou", "ignorado")),
        )
    ).all()
    for item in items:
        item.status = "resolvido"
        item.proxima_tentativa = None
    if items:
        session.commit()


def _provider_error(exc: BaseException) -> tuple[bool, float | None, bool]:
    """(retriable, retry_after, quota_exhausted) of an exception the engine let through."""
    from crmsync.providers.base import ProviderError, RateLimitedError

    if isinstance(exc, RateLimitedError):
        return True, exc.retry_after, bool(exc.quota_exhausted)
    if isinstance(exc, ProviderError):
        return exc.retriable, None, False
    return True, None, False


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:2000]


# ----------------------------------------------------------------------------- push


def push_record(integracao_id: int, entity_type: str, entity_id: int, trigger: str = "automatico") -> str:
    """Push one local row (create, update, link or nothing), under the record's lock."""
    sf, state, opts = _settings_objs()
    job = "push_record"
    with sf() as session:
        integ = _integration(session, integracao_id)
        if integ is None or not _can(integ, entity_type, "push"):
            state.delete(_pending_key("push", integracao_id, entity_type, entity_id))
            _count(state, job, "ignorado")
            return "ignorado"
        until = breaker_open_until(state, integracao_id)
        if until is not None:
            state.delete(_pending_key("push", integracao_id, entity_type, entity_id))
            note_failure(
                session,
                integ,
                entity_type,
                "push",
                entity_id=entity_id,
                external_id=None,
                error="CRM inacessível: aguardando para tentar de novo",
                opts=opts,
                retry_after=until - time.time(),
                quota=True,
            )
            _count(state, job, "adiado")
            return "adiado"
        link = _link_for_local(session, integ, entity_type, entity_id)
        if link is not None and trigger != "manual" and _unchanged_since_sync(session, entity_type, entity_id, link):
            # Nothing local to send (a repeated job, a save that changed nothing): skip without
            # spending a request; remote changes come in through pulls and webhooks.
            state.delete(_pending_key("push", integracao_id, entity_type, entity_id))
            _count(state, job, "sem_mudanca")
            return "sem_mudanca"
        keys = [record_key(integ.id_loja, integ.provider, entity_type, f"local:{entity_id}")]
        if link is not None:
            keys.append(record_key(integ.id_loja, integ.provider, entity_type, f"ext:{link.external_id}"))
        else:
            keys.append(pull_key(integracao_id, entity_type))  # a create must not race a page scan
        try:
            with hold(state, keys, opts.lock_ttl_seconds, wait=LOCK_WAIT_SECONDS):
                state.delete(_pending_key("push", integracao_id, entity_type, entity_id))
                return _run_push(session, sf, state, opts, integ, entity_type, entity_id, trigger)
        except LockBusy:
            _count(state, job, "ocupado")
            raise RetryTask(delay=BUSY_RETRY_SECONDS) from None


def _unchanged_since_sync(session: Session, entity_type: str, entity_id: int, link: CrmEntityLink) -> bool:
    """The mapped row still has the fingerprint its link took at the last sync."""
    from crmsync.engine.scan import scan_local  # the engine is imported lazily here (start-up time)
    from crmsync.erp.table import active_schema

    if link.status != "sincronizado" or not link.local_hash:
        return False
    hits = list(
        scan_local(
            session, active_schema().entity(entity_type), id_loja=link.id_loja, provider=link.provider, ids=[entity_id]
        )
    )
    return len(hits) == 1 and hits[0].kind == "igual"


def _run_push(
    session: Session,
    sf: sessionmaker[Session],
    state: RuntimeState,
    opts: RuntimeOptions,
    integ: CrmIntegracao,
    entity_type: str,
    entity_id: int,
    trigger: str,
) -> str:
    job = "push_record"
    engine = None
    ok = False
    try:
        engine = _open_engine(sf, integ.id, trigger)
        result = engine.push_one(entity_type, entity_id)
        ok = bool(result.success)
    except LookupError as exc:  # the row is gone: nothing to push
        log.info("push %s %s ignorado: %s", entity_type, entity_id, exc)
        _count(state, job, "ignorado")
        return "ignorado"
    except Exception as exc:
        _retriable, retry_after, quota = _provider_error(exc)
        log.warning("push %s %s falhou: %s", entity_type, entity_id, _describe(exc))
        session.rollback()
        note_failure(
            session,
            integ,
            entity_type,
            "push",
            entity_id=entity_id,
            external_id=None,
            error=_describe(exc),
            opts=opts,
            retry_after=retry_after,
            quota=quota,
        )
        _count(state, job, "erro")
        return "erro"
    finally:
        if engine is not None:
            _breaker_after(state, integ.id, ok, _record_transport(state, engine))
            engine.close()
    if result.success:
        note_success(session, integ, entity_type, "push", entity_id=entity_id, external_id=result.external_id)
        _count(state, job, "sucesso")
        return str(result.operacao)
    note_failure(
        session,
        integ,
        entity_type,
        "push",
        entity_id=entity_id,
        external_id=result.external_id,
        error=result.message or f"operação {result.operacao} falhou",
        opts=opts,
        engine_counted=True,
        retry_after=result.retry_after,
        quota=bool(result.quota_exhausted),
    )
    _count(state, job, "erro")
    return "erro"


# ----------------------------------------------------------------------------- pull


def pull_entity(integracao_id: int, entity_type: str, full: bool = False, trigger: str = "cron") -> str:
    """Page through the provider's records of one entity (the engine checkpoints each page)."""
    sf, state, opts = _settings_objs()
    job = "pull_entity"
    with sf() as session:
        integ = _integration(session, integracao_id)
        if integ is None or not _can(integ, entity_type, "pull"):
            state.delete(_pending_key("pull", integracao_id, entity_type))
            _count(state, job, "ignorado")
            return "ignorado"
        if breaker_open_until(state, integracao_id) is not None:
            state.delete(_pending_key("pull", integracao_id, entity_type))
            _count(state, job, "adiado")
            return "adiado"  # the next scheduled scan runs once the CRM answers again
        try:
            with hold(state, [pull_key(integracao_id, entity_type)], opts.lock_ttl_seconds):
                state.delete(_pending_key("pull", integracao_id, entity_type))
                return _run_pull(session, sf, state, opts, integ, entity_type, full, trigger)
        except LockBusy:
            # Another pull or a create of this entity is running; try again shortly (the
            # queued marker is still set, so this stays the one queued pull).
            _count(state, job, "ocupado")
            raise RetryTask(delay=5.0) from None


def _run_pull(
    session: Session,
    sf: sessionmaker[Session],
    state: RuntimeState,
    opts: RuntimeOptions,
    integ: CrmIntegracao,
    entity_type: str,
    full: bool,
    trigger: str,
) -> str:
    job = "pull_entity"
    engine = None
    ok = False
    started = time.time()
    try:
        engine = _open_engine(sf, integ.id, trigger)
        result = engine.pull(entity_type, full=full)
        ok = bool(result.success)
    except Exception as exc:
        _retriable, _retry_after, _quota = _provider_error(exc)
        log.warning("pull %s da integração %s falhou: %s", entity_type, integ.id, _describe(exc))
        _save_pull_stats(state, integ.id, entity_type, started, None, _describe(exc))
        _count(state, job, "erro")
        return "erro"
    finally:
        if engine is not None:
            _breaker_after(state, integ.id, ok, _record_transport(state, engine))
            engine.close()
    _save_pull_stats(state, integ.id, entity_type, started, result, None)
    for err in result.erros or []:
        ext = str(err.get("external_id") or UNKNOWN_EXTERNAL_ID)
        if ext == UNKNOWN_EXTERNAL_ID:
            continue  # a page or an item without an id: the next scan reads it again
        note_failure(
            session,
            integ,
            entity_type,
            "pull",
            entity_id=None,
            external_id=ext,
            error=str(err.get("erro") or err),
            opts=opts,
            engine_counted=True,
            retry_after=result.retry_after if err.get("quota_exhausted") else None,
            quota=bool(err.get("quota_exhausted")),
        )
    _count(state, job, "sucesso" if result.success else "erro")
    return "sucesso" if result.success else "erro"


def _save_pull_stats(
    state: RuntimeState, integracao_id: int, entity_type: str, started: float, result: Any, error: str | None
) -> None:
    """Remember what a scan cost, for the scheduler's quota estimate and for the status page."""
    key = f"pullstats:{integracao_id}:{entity_type}"
    try:
        previous = state.get_json(key) or {}
        data = dict(previous)
        data["ultima_tentativa"] = started
        if result is not None:
            data.update(
                {
                    "ultima_execucao": time.time(),
                    "sucesso": bool(result.success),
                    "paginas": int(getattr(result, "paginas", 0) or 0),
                    "total_processados": int(getattr(result, "total_processados", 0) or 0),
                    "erros": len(result.erros or []),
                    "erro": None,
                }
            )
            if result.success:
                data["ultimo_sucesso"] = time.time()
        else:
            data["erro"] = error
        state.set_json(key, data)
    except Exception:
        log.debug("estatística de pull não salva", exc_info=True)


def pull_record(
    integracao_id: int,
    entity_type: str,
    external_id: str,
    trigger: str = "webhook",
    inbox_id: int | None = None,
) -> str:
    """Fetch one external record and apply it (the webhook path; also retries of pull items)."""
    sf, state, opts = _settings_objs()
    job = "pull_record"
    with sf() as session:
        integ = _integration(session, integracao_id)
        if integ is None or not _can(integ, entity_type, "pull"):
            state.delete(_pending_key("pullone", integracao_id, entity_type, external_id))
            _mark_inbox(session, inbox_id, "ignorado")
            _count(state, job, "ignorado")
            return "ignorado"
        until = breaker_open_until(state, integracao_id)
        if until is not None:
            state.delete(_pending_key("pullone", integracao_id, entity_type, external_id))
            note_failure(
                session,
                integ,
                entity_type,
                "pull",
                entity_id=None,
                external_id=str(external_id),
                error="CRM inacessível: aguardando para tentar de novo",
                opts=opts,
                retry_after=until - time.time(),
                quota=True,
            )
            _count(state, job, "adiado")
            return "adiado"
        link = _link_for_external(session, integ, entity_type, external_id)
        keys = [record_key(integ.id_loja, integ.provider, entity_type, f"ext:{external_id}")]
        if link is not None:
            keys.append(record_key(integ.id_loja, integ.provider, entity_type, f"local:{link.entity_id}"))
        else:
            keys.append(pull_key(integracao_id, entity_type))
        try:
            with hold(state, keys, opts.lock_ttl_seconds, wait=LOCK_WAIT_SECONDS):
                state.delete(_pending_key("pullone", integracao_id, entity_type, external_id))
                return _run_pull_one(session, sf, state, opts, integ, entity_type, external_id, trigger, inbox_id)
        except LockBusy:
            _count(state, job, "ocupado")
            raise RetryTask(delay=BUSY_RETRY_SECONDS) from None


def _run_pull_one(
    session: Session,
    sf: sessionmaker[Session],
    state: RuntimeState,
    opts: RuntimeOptions,
    integ: CrmIntegracao,
    entity_type: str,
    external_id: str,
    trigger: str,
    inbox_id: int | None,
) -> str:
    job = "pull_record"
    engine = None
    ok = False
    try:
        engine = _open_engine(sf, integ.id, trigger)
        result = engine.pull_one(entity_type, str(external_id))
        ok = bool(result.success)
    except Exception as exc:
        _retriable, retry_after, quota = _provider_error(exc)
        session.rollback()
        note_failure(
            session,
            integ,
            entity_type,
            "pull",
            entity_id=None,
            external_id=str(external_id),
            error=_describe(exc),
            opts=opts,
            retry_after=retry_after,
            quota=quota,
        )
        _mark_inbox(session, inbox_id, "erro")
        _count(state, job, "erro")
        return "erro"
    finally:
        if engine is not None:
            _breaker_after(state, integ.id, ok, _record_transport(state, engine))
            engine.close()
    if result.success:
        note_success(session, integ, entity_type, "pull", external_id=str(external_id))
        _mark_inbox(session, inbox_id, "processado")
        _count(state, job, "sucesso")
        return "sucesso"
    message = "; ".join(str(e.get("erro") or e) for e in (result.erros or [])) or "falha ao importar"
    note_failure(
        session,
        integ,
        entity_type,
        "pull",
        entity_id=None,
        external_id=str(external_id),
        error=message,
        opts=opts,
        engine_counted=True,
        retry_after=result.retry_after,
        quota=bool(result.quota_exhausted),
    )
    _mark_inbox(session, inbox_id, "erro")
    _count(state, job, "erro")
    return "erro"


def _mark_inbox(session: Session, inbox_id: int | None, status: str) -> None:
    if inbox_id is None:
        return
    row = session.get(CrmWebhookInbox, inbox_id)
    if row is None:
        return
    row.status = status
    row.processado_em = utcnow()
    session.commit()


def webhook_target(payload: dict[str, Any]) -> tuple[str, str] | None:
    """(entity, external id) a delivery is about, or None when it names nothing we sync."""
    recurso = str(payload.get("recurso") or "").strip().lower()
    entity = RECURSO_TO_ENTITY.get(recurso)
    if entity is None:
        evento = str(payload.get("evento") or "")
        entity = RECURSO_TO_ENTITY.get(evento.split(".", 1)[0].strip().lower())
    ext = payload.get("id")
    if ext is None and isinstance(payload.get("data"), dict):
        ext = payload["data"].get("id")
    if entity is None or ext is None or str(ext).strip() == "":
        return None
    return entity, str(ext)


def process_webhook(inbox_id: int) -> str:
    """Apply one stored delivery through the polling pipeline (pull that one record now).

    The delivery's own data is not trusted as the record's state: deliveries may arrive
    repeated or out of order, so the current record is fetched; a repeated delivery of an
    already processed row does nothing.
    """
    sf, state, _opts = _settings_objs()
    job = "process_webhook"
    with sf() as session:
        row = session.get(CrmWebhookInbox, inbox_id)
        if row is None or row.status in ("processado", "ignorado"):
            _count(state, job, "ignorado")
            return "ignorado"
        target = webhook_target(row.payload or {})
        if target is None:
            _mark_inbox(session, inbox_id, "ignorado")
            _count(state, job, "ignorado")
            return "ignorado"
        integracao_id = row.id_integracao
    entity_type, external_id = target
    _count(state, job, "sucesso")
    return pull_record(integracao_id, entity_type, external_id, trigger="webhook", inbox_id=inbox_id)


# ----------------------------------------------------------------------------- reconcile


def dirty_local_ids(session: Session, integ: CrmIntegracao, entity_type: str, *, full_scan: bool) -> list[int]:
    """Local rows whose content differs from what was last synced (or that were never synced).

    Level-triggered: the fingerprint of the row's mapped columns is compared with the link's
    `local_hash`, so a row changed by the PHP ERP straight in the database is found without
    any event (crmsync.engine.scan, streamed in key-ordered pages). The quick pass
    (`full_scan=False`) reads only rows whose modified column is at or after the watermark
    (the highest value seen by the previous pass, minus WATERMARK_MARGIN: the watermark is in
    the ERP's own clock, whatever its time zone or precision), plus every row never linked
    and the keys that vanished; the full pass (at the pull interval) hashes every row,
    catching writers that do not touch the modified column. A map without one always scans
    fully. Rows whose failed item is parked (`falhou`/`ignorado`) and unchanged since are
    skipped.
    """
    from crmsync.engine.scan import scan_local  # the engine is imported lazily here (start-up time)
    from crmsync.erp.table import Stamp, active_schema, db_clock

    ent = active_schema().entity(entity_type)
    parked = {
        (item.entity_id): item.atualizado_em
        for item in session.scalars(
            select(CrmItemFalho).where(
                CrmItemFalho.id_integracao == integ.id,
                CrmItemFalho.entity_type == entity_type,
                CrmItemFalho.direcao == "push",
                CrmItemFalho.status.in_(("falhou", "ignorado", "pendente")),
            )
        )
        if item.entity_id is not None
    }
    modified = ent.modified_column()
    mark = _watermark(session, integ, entity_type) if modified is not None else None
    since = None
    if not full_scan and mark is not None and mark.cursor:
        since = datetime.fromisoformat(mark.cursor) - WATERMARK_MARGIN
    top = None
    if modified is not None:  # read before the scan: a row stamped during it is seen next time
        top = session.scalar(select(func.max(modified)).where(ent.store_clause(integ.id_loja)))
        if top is not None and not ent.own_clock:  # a stamp in the future must not hold the mark
            now = session.scalar(select(type_coerce(db_clock(session.get_bind().dialect.name), Stamp())))
            top = min(top, now) if now is not None else top
    out: list[int] = []
    for hit in scan_local(
        session, ent, id_loja=integ.id_loja, provider=integ.provider, since=since, new_rows=True, batch=5000
    ):
        if hit.entity_id in parked and (hit.modified is None or hit.modified <= _aware(parked[hit.entity_id])):
            continue
        out.append(hit.entity_id)
    if top is not None:
        _advance_watermark(session, integ, entity_type, mark, top)
    return out


WATERMARK_MARGIN = timedelta(minutes=5)  # a PHP transaction stamped before it committed
_WATERMARK = "varredura_local"


def _watermark(session: Session, integ: CrmIntegracao, entity_type: str) -> CrmCursor | None:
    return session.scalar(
        select(CrmCursor).where(
            CrmCursor.id_integracao == integ.id, CrmCursor.entity_type == entity_type, CrmCursor.direcao == _WATERMARK
        )
    )


def _advance_watermark(
    session: Session, integ: CrmIntegracao, entity_type: str, mark: CrmCursor | None, top: datetime
) -> None:
    """Keep the highest modified value seen (losing an update only means a wider next pass)."""
    try:
        if mark is None:
            session.add(CrmCursor(id_integracao=integ.id, entity_type=entity_type, direcao=_WATERMARK))
            session.flush()
            mark = _watermark(session, integ, entity_type)
        if mark is not None and (not mark.cursor or datetime.fromisoformat(mark.cursor) < top):
            mark.cursor = top.isoformat()
        session.commit()
    except IntegrityError:  # another reconcile created it a moment ago
        session.rollback()


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def reconcile(integracao_id: int, remote: bool = True, trigger: str = "cron", full_scan: bool | None = None) -> str:
    """Find what needs syncing and queue it: dirty local rows (push per record, under each
    record's lock) and, with `remote`, a pull of every entity. Also re-queues webhook
    deliveries and failed items that are due."""
    sf, state, opts = _settings_objs()
    job = "reconcile"
    queued = 0
    with sf() as session:
        integ = _integration(session, integracao_id)
        if integ is None:
            _count(state, job, "ignorado")
            return "ignorado"
        state.delete(_pending_key("reconcile", integracao_id, bool(remote)))
        for entity_type in entities_of(integ):
            if _can(integ, entity_type, "push"):
                ids = dirty_local_ids(session, integ, entity_type, full_scan=remote if full_scan is None else full_scan)
                for entity_id in ids:
                    queued += int(enqueue_push(integracao_id, entity_type, entity_id, trigger=trigger))
            if remote and _can(integ, entity_type, "pull"):
                queued += int(enqueue_pull(integracao_id, entity_type, trigger=trigger))
        queued += requeue_stale_inbox(session, integracao_id, opts)
    queued += retry_failed(integracao_id)
    _count(state, job, "sucesso")
    log.info("reconcile integração %s: %s jobs na fila", integracao_id, queued)
    return f"{queued} jobs"


def requeue_stale_inbox(session: Session, integracao_id: int, opts: RuntimeOptions) -> int:
    cutoff = utcnow() - timedelta(seconds=opts.inbox_retry_seconds)
    rows = session.scalars(
        select(CrmWebhookInbox.id)
        .where(
            CrmWebhookInbox.id_integracao == integracao_id,
            CrmWebhookInbox.status == "recebido",
            CrmWebhookInbox.recebido_em < cutoff,
        )
        .limit(1000)
    ).all()
    return sum(int(enqueue_webhook(i)) for i in rows)


def retry_failed(integracao_id: int | None = None, item_ids: Sequence[int] | None = None, force: bool = False) -> int:
    """Queue failed items whose next attempt is due (or the named ones, now, with `force`)."""
    sf, state, _opts = _settings_objs()
    queued = 0
    with sf() as session:
        query = select(CrmItemFalho)
        if integracao_id is not None:
            query = query.where(CrmItemFalho.id_integracao == integracao_id)
        if item_ids is not None:
            query = query.where(CrmItemFalho.id.in_(list(item_ids)))
        if force:
            query = query.where(CrmItemFalho.status.in_(("pendente", "falhou")))
        else:
            query = query.where(
                CrmItemFalho.status == "pendente",
                or_(CrmItemFalho.proxima_tentativa.is_(None), CrmItemFalho.proxima_tentativa <= utcnow()),
            )
        items = session.scalars(query.limit(5000)).all()
        for item in items:
            if force and item.status == "falhou":
                item.status = "pendente"
                item.tentativas = 0
            item.proxima_tentativa = utcnow() + timedelta(seconds=_opts.pending_ttl_seconds)
            session.commit()
            if item.direcao == "push" and item.entity_id is not None:
                queued += int(
                    enqueue_push(
                        item.id_integracao,
                        item.entity_type,
                        item.entity_id,
                        trigger="manual" if force else "cron",
                        priority=PRIORITY_RETRY,
                    )
                )
            elif item.external_id:
                queued += int(
                    enqueue_pull_record(
                        item.id_integracao,
                        item.entity_type,
                        item.external_id,
                        trigger="manual" if force else "cron",
                    )
                )
    if queued:
        _count(state, "retry_failed", "sucesso")
    return queued


# ----------------------------------------------------------------------------- enqueueing

_TASKS: dict[int, dict[str, Any]] = {}


def _task(name: str) -> Any:
    from crmsync.runtime.queue import get_huey

    huey = get_huey()
    return _TASKS[id(huey)][name]


def _enqueue(marker: str | None, name: str, args: tuple[Any, ...], priority: int, delay: float | None = None) -> bool:
    """Queue a task unless the same one is already waiting; never raises."""
    from crmsync.runtime.options import runtime_options
    from crmsync.runtime.queue import get_state

    state: RuntimeState | None = None
    try:
        state = get_state()
        if marker is not None and not state.set_if_absent(marker, "1", runtime_options().pending_ttl_seconds):
            return False
        wrapper = _task(name)
        wrapper.huey.enqueue(wrapper.s(*args, priority=priority, delay=delay))
        return True
    except Exception:
        log.warning(
            "fila indisponível: %s%r não enfileirado (a reconciliação periódica retoma)",
            name,
            args,
            exc_info=True,
        )
        if state is not None and marker is not None:
            with contextlib.suppress(Exception):
                state.delete(marker)
        return False


def enqueue_push(
    integracao_id: int,
    entity_type: str,
    entity_id: int,
    trigger: str = "automatico",
    priority: int = PRIORITY_PUSH,
) -> bool:
    return _enqueue(
        _pending_key("push", integracao_id, entity_type, entity_id),
        "push_record",
        (integracao_id, entity_type, int(entity_id), trigger),
        priority,
    )


def enqueue_pull(integracao_id: int, entity_type: str, full: bool = False, trigger: str = "cron") -> bool:
    return _enqueue(
        _pending_key("pull", integracao_id, entity_type),
        "pull_entity",
        (integracao_id, entity_type, full, trigger),
        PRIORITY_PULL,
    )


def enqueue_pull_record(integracao_id: int, entity_type: str, external_id: str, trigger: str = "webhook") -> bool:
    return _enqueue(
        _pending_key("pullone", integracao_id, entity_type, external_id),
        "pull_record",
        (integracao_id, entity_type, str(external_id), trigger),
        PRIORITY_WEBHOOK,
    )


def enqueue_webhook(inbox_id: int) -> bool:
    return _enqueue(_pending_key("webhook", inbox_id), "process_webhook", (int(inbox_id),), PRIORITY_WEBHOOK)


def enqueue_reconcile(integracao_id: int, remote: bool = True, trigger: str = "cron") -> bool:
    return _enqueue(
        _pending_key("reconcile", integracao_id, bool(remote)),
        "reconcile",
        (integracao_id, bool(remote), trigger),
        PRIORITY_RECONCILE,
    )


def enqueue_retry(integracao_id: int | None = None) -> bool:
    return _enqueue(None, "retry_failed_task", (integracao_id,), PRIORITY_RETRY)


def retry_failed_task(integracao_id: int | None = None) -> str:
    return f"{retry_failed(integracao_id)} itens"


TASK_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "push_record": push_record,
    "pull_entity": pull_entity,
    "pull_record": pull_record,
    "process_webhook": process_webhook,
    "reconcile": reconcile,
    "retry_failed_task": retry_failed_task,
}


def register_tasks(huey: Huey) -> dict[str, Any]:
    """Register every job on `huey` (idempotent per instance)."""
    if id(huey) in _TASKS:
        return _TASKS[id(huey)]
    tasks = {name: huey.task(name=name)(fn) for name, fn in TASK_FUNCTIONS.items()}
    _TASKS[id(huey)] = tasks
    return tasks


def loja_integrations(session: Session, loja_id: int) -> list[CrmIntegracao]:
    return list(
        session.scalars(
            select(CrmIntegracao)
            .where(CrmIntegracao.id_loja == loja_id, CrmIntegracao.ativo.is_(True))
            .order_by(CrmIntegracao.id)
        )
    )
