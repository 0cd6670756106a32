"""Prometheus metrics, read at scrape time: counters kept by the jobs in the shared runtime
state (so every worker process is included whichever process is scraped) and gauges read
from the database."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from crmsync.config import integration_config
from crmsync.db.session import get_sessionmaker
from crmsync.db.sync import CrmConflito, CrmIntegracao
from crmsync.db.types import utcnow
from crmsync.engine.ledger import count_by_store_and_status
from crmsync.runtime.queue import get_huey, get_state
from crmsync.services.status import pending_push

log = logging.getLogger("crmsync.status")


class RuntimeCollector(Collector):
    """Reads the shared counters and the database at scrape time."""

    def collect(self) -> Iterator[Any]:
        yield from self._counters()
        yield from self._gauges()

    def _counters(self) -> Iterator[Any]:
        """Counters the jobs keep in the shared runtime state."""
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

    def _gauges(self) -> Iterator[Any]:
        """The queue's length and what the database says now."""
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


def metrics_text() -> bytes:
    """Prometheus text format of every metric."""
    return generate_latest(_registry)
