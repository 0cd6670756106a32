"""Health of the sync for the calling store, Prometheus metrics, and failed-item actions.

- `GET /api/crm/status`: per integration, the last pull and push, lag, errors, failed and
  pending items, pending conflicts and webhook deliveries, requests used today against the
  quota, and the scheduler's decision (with its reason when polls are spaced out).
- `GET /metrics`: Prometheus text. Counters kept by the jobs in the shared runtime state, so
  every worker process is included whichever process is scraped.
- `GET /api/crm/falhas`, `POST /api/crm/falhas/{id}/retry`, `POST /api/crm/falhas/{id}/ignorar`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Query, Response, status
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import and_, func, null, or_, select
from sqlalchemy.orm import Session

from crmsync.api.deps import LojaDep, SessionDep
from crmsync.db.sync import (
    CrmConflito,
    CrmCursor,
    CrmEntityLink,
    CrmIntegracao,
    CrmItemFalho,
    CrmSyncLog,
    CrmWebhookInbox,
)
from crmsync.db.types import utcnow
from crmsync.erp.table import active_schema

router = APIRouter(tags=["status"])
log = logging.getLogger("crmsync.status")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=ZoneInfo("UTC"))


def _last_log(session: Session, integ: CrmIntegracao, direcao: str, ok: bool) -> CrmSyncLog | None:
    query = select(CrmSyncLog).where(
        CrmSyncLog.id_loja == integ.id_loja,
        CrmSyncLog.id_integracao == integ.id,
        CrmSyncLog.direcao == direcao,
    )
    if ok:
        query = query.where(CrmSyncLog.status.in_(("sucesso", "ignorado", "conflito")))
    return session.scalar(query.order_by(CrmSyncLog.id.desc()).limit(1))


def pending_push(session: Session, integ: CrmIntegracao, entity_type: str) -> tuple[int, datetime | None]:
    """(rows changed since their last sync or never synced, oldest such change) without hashing."""
    ent = active_schema().entity(entity_type)  # the mapped table (ours, or the ERP's)
    table = ent.table
    link_join = and_(
        CrmEntityLink.id_loja == integ.id_loja,
        CrmEntityLink.provider == integ.provider,
        CrmEntityLink.entity_type == entity_type,
        CrmEntityLink.entity_id == table.c.id,
    )
    modified = ent.modified_column()
    pending = and_(CrmEntityLink.id.is_(None), ent.live_clause())
    if modified is not None:
        pending = or_(pending, modified > CrmEntityLink.sincronizado_em)
    oldest = func.min(modified) if modified is not None else func.min(null())
    row = session.execute(
        select(func.count(table.c.id), oldest)
        .select_from(table)
        .outerjoin(CrmEntityLink, link_join)
        .where(ent.store_clause(integ.id_loja), pending)
    ).one()
    return int(row[0] or 0), _aware(row[1])


def integration_status(session: Session, integ: CrmIntegracao) -> dict[str, Any]:
    from crmsync.jobs import entities_of
    from crmsync.runtime.queue import get_state

    now = utcnow()
    state = None
    try:
        state = get_state()
    except Exception:
        log.debug("estado do runtime indisponível", exc_info=True)
    last_pull = _last_log(session, integ, "pull", True)
    last_push = _last_log(session, integ, "push", True)
    last_error = session.scalar(
        select(CrmSyncLog)
        .where(
            CrmSyncLog.id_loja == integ.id_loja,
            CrmSyncLog.id_integracao == integ.id,
            CrmSyncLog.status == "erro",
        )
        .order_by(CrmSyncLog.id.desc())
        .limit(1)
    )
    errors_24h = (
        session.scalar(
            select(func.count(CrmSyncLog.id)).where(
                CrmSyncLog.id_loja == integ.id_loja,
                CrmSyncLog.id_integracao == integ.id,
                CrmSyncLog.status == "erro",
                CrmSyncLog.criado_em >= now - timedelta(hours=24),
            )
        )
        or 0
    )
    failed = dict(
        session.execute(
            select(CrmItemFalho.status, func.count(CrmItemFalho.id))
            .where(CrmItemFalho.id_integracao == integ.id)
            .group_by(CrmItemFalho.status)
        ).all()
    )
    conflicts = (
        session.scalar(
            select(func.count(CrmConflito.id)).where(
                CrmConflito.id_integracao == integ.id, CrmConflito.status == "pendente"
            )
        )
        or 0
    )
    inbox = (
        session.scalar(
            select(func.count(CrmWebhookInbox.id)).where(
                CrmWebhookInbox.id_integracao == integ.id, CrmWebhookInbox.status == "recebido"
            )
        )
        or 0
    )
    entities: dict[str, Any] = {}
    oldest_change: datetime | None = None
    pending_total = 0
    oldest_pull: float | None = None
    for entity_type in entities_of(integ):
        count, oldest = pending_push(session, integ, entity_type)
        pending_total += count
        if oldest is not None and (oldest_change is None or oldest < oldest_change):
            oldest_change = oldest
        cursor = session.scalar(
            select(CrmCursor).where(CrmCursor.id_integracao == integ.id, CrmCursor.entity_type == entity_type)
        )
        stats = (state.get_json(f"pullstats:{integ.id}:{entity_type}") if state is not None else None) or {}
        complete = _aware(cursor.ultima_execucao_completa) if cursor is not None else None
        last_ok = stats.get("ultimo_sucesso") or (complete.timestamp() if complete else None)
        if last_ok is not None and (oldest_pull is None or last_ok < oldest_pull):
            oldest_pull = float(last_ok)
        entities[entity_type] = {
            "pendentes_push": count,
            "ultima_varredura_completa": _iso(complete),
            "ultima_varredura_paginas": stats.get("paginas"),
            "ultimo_erro_varredura": stats.get("erro"),
        }
    push_lag = (now - oldest_change).total_seconds() if oldest_change is not None and pending_total else 0.0
    pull_lag = (time.time() - oldest_pull) if oldest_pull is not None else None
    schedule = (state.get_json(f"sched:{integ.id}") if state is not None else None) or {}
    quota = {
        "cota_diaria": schedule.get("cota_diaria"),
        "orcamento_empresa": schedule.get("orcamento_empresa"),
        "parcela_integracao": schedule.get("parcela_integracao"),
        "usado_hoje": schedule.get("usado_hoje"),
        "restante_hoje": schedule.get("restante_hoje"),
    }
    return {
        "id": integ.id,
        "provider": integ.provider,
        "ativo": integ.ativo,
        "ultimo_pull": _iso(last_pull.criado_em) if last_pull else None,
        "ultimo_push": _iso(last_push.criado_em) if last_push else None,
        "atraso_push_segundos": round(max(0.0, push_lag), 1),
        "atraso_pull_segundos": None if pull_lag is None else round(max(0.0, pull_lag), 1),
        "pendentes_push": pending_total,
        "erros_24h": int(errors_24h),
        "ultimo_erro": None
        if last_error is None
        else {
            "mensagem": last_error.mensagem,
            "em": _iso(last_error.criado_em),
            "entity_type": last_error.entity_type,
            "entity_id": last_error.entity_id,
        },
        "itens_falhos": {k: int(failed.get(k, 0)) for k in ("pendente", "falhou", "ignorado", "resolvido")},
        "conflitos_pendentes": int(conflicts),
        "webhooks_pendentes": int(inbox),
        "requisicoes": quota,
        "agendamento": {
            k: schedule.get(k)
            for k in (
                "situacao",
                "motivo",
                "intervalo_configurado_min",
                "intervalo_efetivo_min",
                "custo_varredura",
                "varreduras_por_dia",
                "proxima_varredura",
                "ultima_varredura_enfileirada",
            )
        }
        if schedule
        else None,
        "entidades": entities,
    }


@router.get("/api/crm/status")
def crm_status(loja: LojaDep, session: SessionDep) -> dict[str, Any]:
    """Per-integration health of the calling store."""
    integs = session.scalars(
        select(CrmIntegracao).where(CrmIntegracao.id_loja == loja.id).order_by(CrmIntegracao.id)
    ).all()
    return {
        "loja": loja.id,
        "integracoes": [integration_status(session, i) for i in integs],
        "gerado_em": utcnow().isoformat(),
    }


# ----------------------------------------------------------------------------- failed items


@router.get("/api/crm/falhas")
def list_failed(
    loja: LojaDep,
    session: SessionDep,
    status_: str | None = Query(None, alias="status"),
    limit: int = Query(100, ge=1, le=1000),
) -> dict[str, Any]:
    from crmsync.runtime.failures import item_to_dict, list_items

    items = list_items(session, loja.id, status_, limit)
    return {"itens": [item_to_dict(i) for i in items], "total": len(items)}


@router.post("/api/crm/falhas/{item_id}/retry")
def retry_failed_item(item_id: int, loja: LojaDep, session: SessionDep) -> dict[str, Any]:
    from crmsync.runtime.failures import item_to_dict, retry_item

    try:
        item, queued = retry_item(session, item_id, loja.id)
    except LookupError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except ValueError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    return {"success": True, "enfileirado": queued, "item": item_to_dict(item)}


@router.post("/api/crm/falhas/{item_id}/ignorar")
def ignore_failed_item(item_id: int, loja: LojaDep, session: SessionDep) -> dict[str, Any]:
    from crmsync.runtime.failures import ignore_item, item_to_dict

    try:
        item = ignore_item(session, item_id, loja.id)
    except LookupError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    return {"success": True, "item": item_to_dict(item)}


# ----------------------------------------------------------------------------- metrics


class RuntimeCollector(Collector):
    """Reads the shared counters and the database at scrape time."""

    def collect(self) -> Iterator[Any]:
        from crmsync.db.session import get_sessionmaker
        from crmsync.runtime.queue import get_huey, get_state

        jobs = CounterMetricFamily("crmsync_jobs", "Jobs executados, por tipo e resultado.", labels=["job", "status"])
        http = CounterMetricFamily(
            "crmsync_provider_http_requests",
            "Requisições HTTP aos provedores, por status.",
            labels=["provider", "status"],
        )
        r429 = CounterMetricFamily(
            "crmsync_provider_http_429", "Respostas 429 recebidas dos provedores.", labels=["provider"]
        )
        refused = CounterMetricFamily(
            "crmsync_quota_refused",
            "Requisições não enviadas pela guarda da cota diária.",
            labels=["provider"],
        )
        try:
            state = get_state()
            for key, value in state.counters("jobs:").items():
                _, job, st = key.split(":", 2)
                jobs.add_metric([job, st], value)
            for key, value in state.counters("http:").items():
                _, prov, st = key.split(":", 2)
                http.add_metric([prov, st], value)
            for key, value in state.counters("http429:").items():
                r429.add_metric([key.split(":", 1)[1]], value)
            for key, value in state.counters("quota_refused:").items():
                refused.add_metric([key.split(":", 1)[1]], value)
        except Exception:
            log.debug("contadores indisponíveis", exc_info=True)
        yield jobs
        yield http
        yield r429
        yield refused

        queue_size = GaugeMetricFamily("crmsync_queue_pending", "Jobs esperando na fila.")
        try:
            queue_size.add_metric([], float(get_huey().pending_count()))
        except Exception:
            log.debug("fila indisponível", exc_info=True)
        yield queue_size

        quota_used = GaugeMetricFamily(
            "crmsync_quota_used_today", "Requisições usadas hoje (empresa).", labels=["integracao"]
        )
        quota_budget = GaugeMetricFamily(
            "crmsync_quota_budget", "Orçamento diário de requisições (empresa).", labels=["integracao"]
        )
        conflicts = GaugeMetricFamily("crmsync_conflicts_pending", "Conflitos pendentes.", labels=["loja"])
        failed = GaugeMetricFamily("crmsync_failed_items", "Itens falhos, por situação.", labels=["loja", "status"])
        lag = GaugeMetricFamily(
            "crmsync_sync_lag_seconds",
            "Idade da mudança local mais antiga ainda não enviada.",
            labels=["integracao"],
        )
        pull_age = GaugeMetricFamily(
            "crmsync_pull_age_seconds", "Tempo desde a última varredura completa.", labels=["integracao"]
        )
        try:
            state = get_state()
            with get_sessionmaker()() as session:
                for loja_id, n in session.execute(
                    select(CrmConflito.id_loja, func.count(CrmConflito.id))
                    .where(CrmConflito.status == "pendente")
                    .group_by(CrmConflito.id_loja)
                ).all():
                    conflicts.add_metric([str(loja_id)], float(n))
                for loja_id, st, n in session.execute(
                    select(CrmItemFalho.id_loja, CrmItemFalho.status, func.count(CrmItemFalho.id)).group_by(
                        CrmItemFalho.id_loja, CrmItemFalho.status
                    )
                ).all():
                    failed.add_metric([str(loja_id), st], float(n))
                now = utcnow()
                for integ in session.scalars(select(CrmIntegracao).where(CrmIntegracao.ativo.is_(True))):
                    sched = state.get_json(f"sched:{integ.id}") or {}
                    if sched.get("usado_hoje") is not None:
                        quota_used.add_metric([str(integ.id)], float(sched["usado_hoje"]))
                    if sched.get("orcamento_empresa") is not None:
                        quota_budget.add_metric([str(integ.id)], float(sched["orcamento_empresa"]))
                    from crmsync.jobs import entities_of

                    oldest: datetime | None = None
                    last_ok: float | None = None
                    for entity_type in entities_of(integ):
                        count, first = pending_push(session, integ, entity_type)
                        if count and first is not None and (oldest is None or first < oldest):
                            oldest = first
                        stats = state.get_json(f"pullstats:{integ.id}:{entity_type}") or {}
                        ok = stats.get("ultimo_sucesso")
                        if ok is not None and (last_ok is None or ok < last_ok):
                            last_ok = float(ok)
                    lag.add_metric([str(integ.id)], (now - oldest).total_seconds() if oldest else 0.0)
                    if last_ok is not None:
                        pull_age.add_metric([str(integ.id)], max(0.0, time.time() - last_ok))
        except Exception:
            log.debug("métricas do banco indisponíveis", exc_info=True)
        yield quota_used
        yield quota_budget
        yield conflicts
        yield failed
        yield lag
        yield pull_age


_registry = CollectorRegistry(auto_describe=False)
_registry.register(RuntimeCollector())


@router.get("/metrics", include_in_schema=False)
def metrics() -> Response:
    """Prometheus text format."""
    return Response(generate_latest(_registry), media_type=CONTENT_TYPE_LATEST)
