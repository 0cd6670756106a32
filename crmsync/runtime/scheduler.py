"""The scheduler: each integration's periodic pull and reconcile, inside its quota share.

Every `scheduler_tick_seconds` one scheduler (across all processes: it takes a shared lock
for the tick, and due times live in the shared state, so two schedulers never queue the same
run twice) looks at every active integration and

- queues a *local sweep* (`reconcile(remote=False)`: rows changed straight in the database,
  stuck webhook deliveries, due failed items) every `local_sweep_seconds`;
- queues a *full reconcile* (push of dirty rows + pull of every entity) every
  `intervalo_pull_minutos` (default 10), **unless the company's daily quota cannot pay for
  it**: a full scan costs about one request per 100 records per entity, the company's
  budget (the provider's daily quota minus the share kept for its other apps) is split
  between the integrations that use the same credentials, and 20% of each share is kept
  for pushes and webhooks. When the scans at the configured interval would not fit, the
  interval is stretched until they do ("espaçado"); when even the next scan would not fit
  in what is left today, it waits for the provider's next day ("adiado"). The decision and
  its reason are stored for `/api/crm/status`. The transport's quota guard remains the
  last line: it never sends the request that would exceed the budget.
- queues a *full scan* (`pull_entity(full=True)`) of each pulled entity every
  `full_scan_seconds` (default 24 h) for integrations that poll newest-first
  (`ordenar_por_modificacao`): their incremental polls stop at the watermark and so never
  infer remote deletes. It obeys the same budget: never while scans are deferred
  ("adiado"), and never more often than the effective (possibly stretched) interval.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from crmsync.config import IntegrationConfig, integration_config
from crmsync.db.session import get_sessionmaker
from crmsync.db.sync import CrmEntityLink, CrmIntegracao
from crmsync.engine.retention import purge_expired
from crmsync.providers.limits import open_shared_limits
from crmsync.providers.registry import lists_changed_since, provider_class
from crmsync.runtime.jobs import enqueue_pull, enqueue_reconcile
from crmsync.runtime.options import RuntimeOptions, runtime_options
from crmsync.runtime.periodic import PeriodicThread
from crmsync.runtime.queue import get_state
from crmsync.runtime.state import RuntimeState
from crmsync.settings import Settings, get_settings

log = logging.getLogger("crmsync.scheduler")

PAGE_SIZE = 100
LINK_COUNT_SECONDS = 60.0  # how long a tick's link counts serve the next ticks
PUSH_RESERVE = 0.2  # share of an integration's budget kept for pushes and webhooks


@dataclass
class ScheduleDecision:
    """What the scheduler decided for one integration, as `/api/crm/status` shows it."""

    integracao_id: int
    intervalo_configurado_min: int
    intervalo_efetivo_min: int
    custo_varredura: int  # requests a full scan of every pulled entity costs (estimate)
    varreduras_por_dia: float
    cota_diaria: int | None  # provider's daily quota per company
    orcamento_empresa: int | None  # what crmsync may use of it (the rest is reserved)
    parcela_integracao: int | None  # this integration's share of that budget
    integracoes_na_empresa: int
    usado_hoje: int | None  # company-wide, all our processes
    restante_hoje: int | None
    situacao: str  # normal | espacado | adiado | sem_cota
    motivo: str
    proxima_varredura: float | None = None  # epoch seconds
    ultima_varredura_enfileirada: float | None = None
    decidido_em: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def plan_interval(configured_min: int, scan_cost: int, share: int | None) -> tuple[int, str, str]:
    """(effective interval in minutes, situation, reason) for a scan cost and a daily share.

    Pure, so the arithmetic is tested on its own.
    """
    if not share:
        return configured_min, "normal", "sem cota diária conhecida: intervalo configurado"
    pull_budget = share * (1.0 - PUSH_RESERVE)
    wanted = scan_cost * (24 * 60 / configured_min)
    if wanted <= pull_budget:
        return (
            configured_min,
            "normal",
            (
                f"varredura completa custa ~{scan_cost} requisições; {math.floor(24 * 60 / configured_min)} "
                f"varreduras por dia cabem na parcela diária de {share}"
            ),
        )
    if pull_budget < 1:
        return 24 * 60, "sem_cota", "a parcela diária desta integração não permite varreduras"
    effective = max(configured_min, math.ceil(24 * 60 * scan_cost / pull_budget))
    situation = "espacado" if effective <= 24 * 60 else "sem_cota"
    return (
        effective,
        situation,
        (
            f"varredura completa custa ~{scan_cost} requisições e a parcela diária é {share} "
            f"(80% para varreduras): intervalo aumentado de {configured_min} para {effective} minutos"
        ),
    )


class Scheduler(PeriodicThread):
    """Runs `tick()` on a daemon thread; `tick()` can also be called directly (tests)."""

    thread_name = "crmsync-scheduler"
    failure_message = "falha no agendador (tenta de novo no próximo ciclo)"

    def __init__(self, settings: Settings | None = None, options: RuntimeOptions | None = None) -> None:
        super().__init__(log)
        self.settings = settings or get_settings()
        self.options = options or runtime_options()
        self._limits: Any = None
        self._links: tuple[float, dict[tuple[int, str], int] | None] = (0.0, None)

    # ------------------------------------------------------------------ thread
    def step(self) -> list[ScheduleDecision]:
        return self.tick()

    def period(self) -> float:
        return self.options.scheduler_tick_seconds

    def stop(self, timeout: float = 10.0) -> None:
        super().stop(timeout)
        if self._limits is not None:
            try:
                self._limits.close()
            except Exception:
                log.debug("falha ao fechar o limitador", exc_info=True)
            self._limits = None

    def _link_counts(self, session: Any, now: float) -> dict[tuple[int, str], int]:
        """Every integration's link counts, counted again at most every `LINK_COUNT_SECONDS`
        (they only size a scan's pages; a count of a large store's links every tick cost the
        database more than the tick's decisions)."""
        fresh_at, counts = self._links
        if counts is None or not fresh_at <= now < fresh_at + LINK_COUNT_SECONDS:
            counts = _count_links(session)
            self._links = (now, counts)
        return counts

    # ------------------------------------------------------------------ tick
    def tick(self, now: float | None = None) -> list[ScheduleDecision]:
        state = get_state(self.settings)
        now = time.time() if now is None else now
        token = uuid.uuid4().hex
        ttl = max(30.0, self.options.scheduler_tick_seconds * 3)
        if not state.acquire("lock:scheduler", token, ttl):
            return []  # another process is scheduling this tick
        decisions: list[ScheduleDecision] = []
        try:
            with get_sessionmaker(self.settings.resolved_database_url())() as session:
                integs = list(
                    session.scalars(
                        select(CrmIntegracao).where(CrmIntegracao.ativo.is_(True)).order_by(CrmIntegracao.id)
                    )
                )
                per_company: dict[str, int] = {}
                for integ in integs:
                    per_company[integ.credenciais_hash] = per_company.get(integ.credenciais_hash, 0) + 1
                links = self._link_counts(session, now)
                for integ in integs:
                    try:
                        cfg = integration_config(integ)  # parsed once for this decision
                        sharing = per_company[integ.credenciais_hash]
                        decision = self.decide(session, state, integ, sharing, now, cfg, links)
                    except Exception:
                        log.exception("agendamento da integração %s falhou", integ.id)
                        continue
                    decisions.append(decision)
                    due_local = state.get_json(f"due:{integ.id}:local") or 0
                    if now >= float(due_local):
                        enqueue_reconcile(integ.id, remote=False, trigger="cron")
                        state.set_json(f"due:{integ.id}:local", now + self.options.local_sweep_seconds)
                    self._queue_full_scans(state, integ, cfg, decision, now)
                    due_pull = decision.proxima_varredura
                    due = due_pull is not None and now >= due_pull and decision.situacao != "adiado"
                    if due and enqueue_reconcile(integ.id, remote=True, trigger="cron"):
                        state.set_json(f"last:{integ.id}:pull", now)
                        decision.ultima_varredura_enfileirada = now
                        decision.proxima_varredura = now + decision.intervalo_efetivo_min * 60
                    state.set_json(f"sched:{integ.id}", decision.as_dict())
            self._purge_daily(state, now)
        finally:
            state.release("lock:scheduler", token)
        return decisions

    def _purge_daily(self, state: Any, now: float) -> None:
        """Once a day, the webhook inbox and the sync log past their retention go."""
        if now < float(state.get_json("due:purge") or 0):
            return
        state.set_json("due:purge", now + 24 * 3600)
        sf = get_sessionmaker(self.settings.resolved_database_url())
        s = self.settings
        done = purge_expired(sf, webhook_days=s.webhook_retention_days, log_days=s.sync_log_retention_days)
        if done.webhooks or done.logs:
            log.info("retenção: %s entregas de webhook e %s linhas de log apagadas", done.webhooks, done.logs)

    def _queue_full_scans(
        self, state: RuntimeState, integ: CrmIntegracao, cfg: IntegrationConfig, decision: ScheduleDecision, now: float
    ) -> None:
        """Queue the periodic full scan of a newest-first integration's entities when due.

        Queued before the tick's reconcile, so that reconcile's incremental pull of the entity
        coalesces into the full one (a full scan applies every change too). The first time
        an integration is seen only starts the clock: its first pull (no watermark yet) is
        a full scan anyway. An entity whose pull is already queued is tried on a later tick.
        """
        # Newest-first or changed-since polls never see deletes: a periodic full scan does.
        if not (cfg.ordenar_por_modificacao or lists_changed_since(integ.provider)):
            return
        if decision.situacao == "adiado":
            return  # not even the next incremental scan fits in what is left today
        period = max(float(self.options.full_scan_seconds), decision.intervalo_efetivo_min * 60.0)
        for entity_type in cfg.entities():
            if not cfg.syncs(entity_type, "pull"):
                continue
            key = f"last:{integ.id}:fullscan:{entity_type}"
            last = state.get_json(key)
            if last is not None and now < float(last) + period:
                continue
            if last is None or enqueue_pull(integ.id, entity_type, full=True, trigger="cron"):
                state.set_json(key, now)

    # ------------------------------------------------------------------ decision
    def decide(
        self,
        session: Any,
        state: RuntimeState,
        integ: CrmIntegracao,
        sharing: int,
        now: float,
        cfg: IntegrationConfig,
        links: Mapping[tuple[int, str], int],
    ) -> ScheduleDecision:
        """When and how often `integ` is pulled: `cfg` its config, parsed once for the tick;
        `links` every integration's link counts by entity (`_count_links`), read for the tick."""
        configured = int(cfg.intervalo_pull_minutos)
        quota, tz = capabilities_of(integ, cfg)
        cost = 0
        for entity_type in cfg.entities():
            if not cfg.syncs(entity_type, "pull"):
                continue
            stats = state.get_json(f"pullstats:{integ.id}:{entity_type}") or {}
            linked = links.get((integ.id, entity_type), 0)
            pages = max(int(stats.get("paginas") or 0), math.ceil(linked / PAGE_SIZE), 1)
            cost += pages
        budget = math.floor(quota * (1.0 - self.settings.quota_reserve_share)) if quota else None
        share = budget // max(1, sharing) if budget is not None else None
        effective, situation, reason = plan_interval(configured, max(1, cost), share)
        used = self._used_today(integ, tz) if budget is not None else None
        remaining = None if budget is None or used is None else max(0, budget - used)
        last = state.get_json(f"last:{integ.id}:pull")
        next_run = now if last is None else float(last) + effective * 60
        if remaining is not None and cost > remaining // max(1, sharing):
            situation = "adiado"
            next_run = _next_midnight(tz)
            reason = (
                f"restam {remaining} requisições da cota de hoje (usadas {used} de {budget}); "
                f"a varredura custa ~{cost}: fica para depois da meia-noite ({tz})"
            )
        return ScheduleDecision(
            integracao_id=integ.id,
            intervalo_configurado_min=configured,
            intervalo_efetivo_min=effective,
            custo_varredura=cost,
            varreduras_por_dia=round(24 * 60 / effective, 2),
            cota_diaria=quota,
            orcamento_empresa=budget,
            parcela_integracao=share,
            integracoes_na_empresa=sharing,
            usado_hoje=used,
            restante_hoje=remaining,
            situacao=situation,
            motivo=reason,
            proxima_varredura=next_run,
            ultima_varredura_enfileirada=None if last is None else float(last),
            decidido_em=now,
        )

    def _used_today(self, integ: CrmIntegracao, tz: str) -> int | None:
        try:
            if self._limits is None:
                self._limits = open_shared_limits(self.settings.resolved_ratelimit_url())
            day = datetime.now(ZoneInfo(tz)).date().isoformat()
            return int(self._limits.quota_used(integ.credenciais_hash, day))
        except Exception:
            log.debug("uso da cota indisponível", exc_info=True)
            return None


def _count_links(session: Any) -> dict[tuple[int, str], int]:
    """Links per (integration, entity): one grouped query for every integration of a tick (it
    was one query per integration and entity, 150 every 5 s with 50 stores)."""
    query = select(CrmEntityLink.id_integracao, CrmEntityLink.entity_type, func.count(CrmEntityLink.id)).group_by(
        CrmEntityLink.id_integracao, CrmEntityLink.entity_type
    )
    return {(int(i), str(e)): int(n) for i, e, n in session.execute(query)}


def capabilities_of(integ: CrmIntegracao, cfg: IntegrationConfig | None = None) -> tuple[int | None, str]:
    """(daily quota, time zone of its day) that the integration's provider class declares
    (`daily_quota`, `quota_timezone`; the integration's `timezone` when it names none):
    read from the class, so no credential is decrypted and no provider is built."""
    cfg = cfg if cfg is not None else integration_config(integ)
    try:
        cls = provider_class(integ.provider)
    except Exception:  # an unknown key or a broken plug-in: no quota to plan for
        log.debug("provedor indisponível para ler a cota", exc_info=True)
        return None, cfg.timezone
    quota = getattr(cls, "daily_quota", None)
    return (int(quota) if quota else None), str(getattr(cls, "quota_timezone", None) or cfg.timezone)


def _next_midnight(tz: str) -> float:
    zone = ZoneInfo(tz)
    now = datetime.now(zone)
    tomorrow = (now + timedelta(days=1)).date()
    return datetime(tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=zone).timestamp()
