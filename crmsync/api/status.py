"""Status, Prometheus metrics, and failed-item actions of the calling store.

- `GET /api/crm/status`: per integration health (`crmsync.services.status`).
- `GET /metrics`: Prometheus text. Counters kept by the jobs in the shared runtime state, so
  every worker process is included whichever process is scraped.
- `GET /api/crm/falhas`, `POST /api/crm/falhas/{id}/retry`, `POST /api/crm/falhas/{id}/ignorar`
  (`crmsync.services.failures`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Response, status
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from crmsync.api.deps import LojaDep, SessionDep
from crmsync.db.session import get_sessionmaker
from crmsync.db.sync import CrmConflito, CrmIntegracao
from crmsync.db.types import utcnow
from crmsync.engine.ledger import count_by_store_and_status
from crmsync.runtime.jobs import integration_config
from crmsync.runtime.queue import get_huey, get_state
from crmsync.services.failures import ignore_item, item_to_dict, list_items, retry_item
from crmsync.services.status import pending_push, store_status

router = APIRouter(tags=["status"])
log = logging.getLogger("crmsync.status")


@router.get("/api/crm/status")
def crm_status(loja: LojaDep, session: SessionDep) -> dict[str, Any]:
    """Per-integration health of the calling store."""
    return store_status(session, loja.id)


# ----------------------------------------------------------------------------- failed items


@router.get("/api/crm/falhas")
def list_failed(
    loja: LojaDep,
    session: SessionDep,
    status_: str | None = Query(None, alias="status"),
    limit: int = Query(100, ge=1, le=1000),
) -> dict[str, Any]:
    items = list_items(session, loja.id, status_, limit)
    return {"itens": [item_to_dict(i) for i in items], "total": len(items)}


@router.post("/api/crm/falhas/{item_id}/retry")
def retry_failed_item(item_id: int, loja: LojaDep, session: SessionDep) -> dict[str, Any]:
    try:
        item, queued = retry_item(session, item_id, loja.id)
    except LookupError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except ValueError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    return {"success": True, "enfileirado": queued, "item": item_to_dict(item)}


@router.post("/api/crm/falhas/{item_id}/ignorar")
def ignore_failed_item(item_id: int, loja: LojaDep, session: SessionDep) -> dict[str, Any]:
    try:
        item = ignore_item(session, item_id, loja.id)
    except LookupError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    return {"success": True, "item": item_to_dict(item)}


# ----------------------------------------------------------------------------- metrics


class RuntimeCollector(Collector):
    """Reads the shared counters and the database at scrape time."""

    def collect(self) -> Iterator[Any]:
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
                for loja_id, st, n in count_by_store_and_status(session):
                    failed.add_metric([str(loja_id), st], float(n))
                now = utcnow()
                for integ in session.scalars(select(CrmIntegracao).where(CrmIntegracao.ativo.is_(True))):
                    sched = state.get_json(f"sched:{integ.id}") or {}
                    if sched.get("usado_hoje") is not None:
                        quota_used.add_metric([str(integ.id)], float(sched["usado_hoje"]))
                    if sched.get("orcamento_empresa") is not None:
                        quota_budget.add_metric([str(integ.id)], float(sched["orcamento_empresa"]))
                    oldest: datetime | None = None
                    last_ok: float | None = None
                    for entity_type in integration_config(integ).entities():
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
