"""Health of the sync: per integration, the last pull and push, lag, errors, failed and
pending items, pending conflicts and webhook deliveries, requests used today against the
quota, and the scheduler's decision (with its reason when polls are spaced out). Shown by
`GET /api/crm/status`, the console and the metrics.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, null, or_, select
from sqlalchemy.orm import Session

from crmsync.config import integration_config
from crmsync.db.session import elsewhere
from crmsync.db.sync import (
    CrmConflito,
    CrmCursor,
    CrmEntityLink,
    CrmIntegracao,
    CrmSyncLog,
    CrmWebhookInbox,
)
from crmsync.db.types import utcnow
from crmsync.engine.ledger import count_by_status
from crmsync.engine.scan import links_of
from crmsync.erp.table import MappedEntity, active_schema
from crmsync.providers.registry import display_name
from crmsync.runtime.queue import get_state

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
    if elsewhere(session, table):
        return _pending_apart(session, integ, ent)
    join = and_(
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
        .outerjoin(CrmEntityLink, join)
        .where(ent.store_clause(integ.id_loja), pending)
    ).one()
    return int(row[0] or 0), _aware(row[1])


def _pending_apart(session: Session, integ: CrmIntegracao, ent: MappedEntity) -> tuple[int, datetime | None]:
    """:func:`pending_push` with the ERP's table in another database: pages of its keys,
    modified stamps and live flags, paired with the links of each page's key range."""
    table = ent.table
    modified = ent.modified_column()
    stamp = modified if modified is not None else null()
    stmt = select(table.c.id, stamp, ent.live_clause()).where(ent.store_clause(integ.id_loja)).order_by(table.c.id)
    conn = session.connection(bind_arguments={"clause": table})
    count, oldest, last = 0, None, None
    batch = 5000
    while True:
        rows = conn.execute((stmt if last is None else stmt.where(table.c.id > last)).limit(batch)).all()
        upto = int(rows[-1][0]) if len(rows) == batch else None
        links = links_of(
            session,
            ent.entity_type,
            id_loja=integ.id_loja,
            provider=integ.provider,
            columns=[CrmEntityLink.sincronizado_em],
            after=last,
            upto=upto,
        )
        for row in rows:
            link = links.get(int(row[0]))
            synced = _aware(link[0]) if link is not None else None
            changed, live = _aware(row[1]), row[2]
            if (link is None and live) or (changed is not None and synced is not None and changed > synced):
                count += 1
                if changed is not None and (oldest is None or changed < oldest):
                    oldest = changed
        if upto is None:
            return count, oldest
        last = upto


def integration_status(session: Session, integ: CrmIntegracao) -> dict[str, Any]:
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
    failed = count_by_status(session, integ.id)
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
    for entity_type in integration_config(integ).entities():
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
        "provedor_nome": display_name(integ.provider),  # "GestãoClick", "SuiteCRM"
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


def store_status(session: Session, loja_id: int) -> dict[str, Any]:
    """Per-integration health of one store."""
    integs = session.scalars(
        select(CrmIntegracao).where(CrmIntegracao.id_loja == loja_id).order_by(CrmIntegracao.id)
    ).all()
    return {
        "loja": loja_id,
        "integracoes": [integration_status(session, i) for i in integs],
        "gerado_em": utcnow().isoformat(),
    }
