"""Console pages of what happened: the sync log (filters, htmx), failed items (retry or
ignore) and the store's integrations (health, "Sincronizar agora")."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from crmsync.db.sync import CrmIntegracao
from crmsync.services import console_actions as actions
from crmsync.services import queries as eq
from crmsync.services.console import get_failed_item, list_failed_items
from crmsync.services.status import integration_status
from crmsync.web import format as fmt
from crmsync.web.pages import (
    LOG_PAGE_SIZE,
    ConsoleRoute,
    Store,
    id_param,
    load_session,
    page,
    page_param,
    pages,
    posted_form,
    redirect,
    require_store,
    sessions,
    store_tz,
)

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

# ---------------------------------------------------------------------------- log


def _day_bounds(value: str | None, tz: str, end: bool) -> datetime | None:
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        return None
    moment = datetime.combine(day, time.max if end else time.min, tzinfo=ZoneInfo(tz))
    return moment.astimezone(UTC)


@router.get("/registro")
def sync_log(
    request: Request,
    status: str | None = None,
    entidade: str | None = None,
    direcao: str | None = None,
    tipo: str | None = None,
    de: str | None = None,
    ate: str | None = None,
    pagina: str | None = None,
) -> Response:
    store = require_store(request)
    filtros = {
        "status": status if status in eq.LOG_STATUSES else "",
        "entidade": entidade if entidade in fmt.ENTITY_LABELS else "",
        "direcao": direcao if direcao in eq.LOG_DIRECTIONS else "",
        "tipo": tipo if tipo in eq.LOG_TRIGGERS else "",
        "de": de if de and _day_bounds(de, fmt.DEFAULT_TZ, False) else "",
        "ate": ate if ate and _day_bounds(ate, fmt.DEFAULT_TZ, True) else "",
    }
    current = page_param(pagina, LOG_PAGE_SIZE)
    with sessions()() as db:
        tz = store_tz(db, store.id)
        result = eq.list_log(
            db,
            loja_id=store.id,
            status=filtros["status"] or None,
            entity_type=filtros["entidade"] or None,
            direction=filtros["direcao"] or None,
            trigger=filtros["tipo"] or None,
            since=_day_bounds(filtros["de"], tz, False),
            until=_day_bounds(filtros["ate"], tz, True),
            limit=LOG_PAGE_SIZE,
            offset=(current - 1) * LOG_PAGE_SIZE,
        )
        falhas = list_failed_items(db, store.id)
    query = {k: v for k, v in filtros.items() if v}
    response = page(
        request,
        store,
        "registro.html",
        {
            "registros": result["items"],
            "paginas": pages(result["total"], LOG_PAGE_SIZE, current),
            "filtros": query,
            "f": filtros,
            "falhas": falhas,
            "tz": tz,
        },
        nav="registro",
    )
    if request.headers.get("hx-request"):
        # htmx would push the raw form (empty filters included); push the clean address instead.
        clean = dict(query, pagina=str(current)) if current > 1 else query
        response.headers["HX-Push-Url"] = "/console/registro" + ("?" + urlencode(clean) if clean else "")
    return response


@router.post("/falhas/{item_id}/{acao}")
async def failed_item_action(request: Request, item_id: str, acao: str) -> Response:
    store = await run_in_threadpool(require_store, request)  # signed out: to the sign-in page
    await posted_form(request)
    if acao not in ("tentar", "ignorar"):
        raise StarletteHTTPException(404)
    return await run_in_threadpool(_do_failed_item, request, store, id_param(item_id), acao)


def _do_failed_item(request: Request, store: Store, item_id: int, acao: str) -> Response:
    sf = sessions()
    with sf() as db:
        row = get_failed_item(db, store.id, item_id)
        if row is None:
            raise StarletteHTTPException(404)
        label = f"{fmt.entity_label(row.entity_type)} {row.entity_id or row.external_id or ''}".strip()
    session = load_session(request)
    try:
        if acao == "tentar":
            queued = actions.retry_failed_item(sf, store.id, item_id)
            session.set_flash(
                f"{label}: nova tentativa agendada para agora."
                if queued
                else f"{label}: marcado para nova tentativa na próxima rodada."
            )
        else:
            actions.ignore_failed_item(sf, store.id, item_id)
            session.set_flash(f"{label}: item ignorado; ele não será mais tentado.")
    except LookupError as exc:
        raise StarletteHTTPException(404) from exc
    except actions.ActionError as exc:
        session.set_flash(str(exc), "erro")
    return redirect("/console/registro#falhas")


# ---------------------------------------------------------------------------- integrations


def _integration_rows(db: Session, loja_id: int) -> list[dict[str, Any]]:
    """Per integration, the runtime's health summary (the same as ``GET /api/crm/status``)
    plus the duplicates waiting for review."""
    integs = db.scalars(select(CrmIntegracao).where(CrmIntegracao.id_loja == loja_id).order_by(CrmIntegracao.id)).all()
    rows = []
    for integ in integs:
        row = integration_status(db, integ)
        row["duplicatas_pendentes"] = eq.count_pending_duplicates(db, integracao_id=integ.id)
        row["requisicoes"] = row.get("requisicoes") or {}
        row["itens_falhos"] = row.get("itens_falhos") or {}
        rows.append(row)
    return rows


@router.get("/integracoes")
def integrations(request: Request) -> Response:
    store = require_store(request)
    with sessions()() as db:
        rows = _integration_rows(db, store.id)
    return page(request, store, "integracoes.html", {"integracoes": rows}, nav="integracoes")


@router.post("/integracoes/{integracao_id}/sincronizar")
async def integration_sync(request: Request, integracao_id: str) -> Response:
    store = await run_in_threadpool(require_store, request)  # signed out: to the sign-in page
    await posted_form(request)
    return await run_in_threadpool(_do_sync, request, store, id_param(integracao_id))


def _summary_text(result: dict[str, Any], provider: str = "gestao_click") -> str:
    def part(d: Any, *keys: str) -> int:
        if not isinstance(d, dict):
            return 0
        return sum(int(d.get(k) or 0) for k in keys if isinstance(d.get(k), int | float))

    enviados = part(result.get("para_crm"), "sucessos")
    erros = part(result.get("para_crm"), "erros") + len((result.get("do_crm") or {}).get("erros") or [])
    recebidos = part(result.get("do_crm"), "total_criados", "total_atualizados", "total_vinculados")
    conflitos = part(result.get("conflitos"), "pendentes")
    text = (
        f"Sincronização concluída: {enviados} enviado(s) ao {fmt.provider_label(provider)}, {recebidos} recebido(s), "
        f"{conflitos} conflito(s) aguardando decisão"
    )
    return text + (f", {erros} erro(s) (veja o registro)." if erros else ".")


def _do_sync(request: Request, store: Store, integracao_id: int) -> Response:
    with sessions()() as db:
        integ = db.get(CrmIntegracao, integracao_id)
        if integ is None or integ.id_loja != store.id:
            raise StarletteHTTPException(404)
        provider = integ.provider
    session = load_session(request)
    try:
        result = actions.sync_now(sessions(), store.id, integracao_id, provider)
    except actions.ActionError as exc:
        session.set_flash(str(exc), "erro")
    else:
        if "na_fila" in result:
            session.set_flash(str(result["na_fila"]), "aviso")
            return redirect("/console/integracoes")
        ok = result.get("success", True) is not False
        session.set_flash(_summary_text(result, provider), "sucesso" if ok else "aviso")
    return redirect("/console/integracoes")
