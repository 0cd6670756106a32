"""Web console (server-rendered, Portuguese) under ``/console``.

The people deciding conflicts and duplicates are store staff, so every page is plain HTML
that works without JavaScript and at phone width; htmx (served from our own static files)
only makes the log filters update in place. A store signs in with its API key; every query
is scoped to that store, and another store's id answers 404 exactly like a missing one.

Errors never reach the user as a stack trace: :class:`ConsoleRoute` turns every exception of a
console route into a friendly Portuguese page (and a redirect to sign-in when needed).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from math import ceil
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from crmsync.db.local import Loja
from crmsync.db.session import get_sessionmaker
from crmsync.db.sync import CrmIntegracao
from crmsync.services import console_actions as actions
from crmsync.services import queries as eq
from crmsync.services.console import get_failed_item, list_failed_items, nav_counts, pending_duplicates
from crmsync.services.lojas import loja_by_api_key
from crmsync.services.status import integration_status
from crmsync.web import format as fmt
from crmsync.web.auth import (
    CSRF_FIELD,
    CsrfFailed,
    LoginRequired,
    check_csrf,
    end_session,
    key_fingerprint,
    load_session,
    start_store_session,
    write_cookie,
)

log = logging.getLogger(__name__)

WEB_DIR = Path(__file__).parent
STATIC_DIR = WEB_DIR / "static"
STATIC_FILES = {"console.css": "text/css", "htmx.min.js": "text/javascript"}
LOG_PAGE_SIZE = 20
LIST_PAGE_SIZE = 25
SECURITY_HEADERS = {
    # Nothing inline, nothing from elsewhere: htmx and the CSS are our own files.
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}

templates = Jinja2Templates(directory=str(WEB_DIR / "templates"))
templates.env.filters.update(
    hora=fmt.format_time,
    idade=fmt.format_age,
    duracao=fmt.format_duration,
    valor=fmt.format_value,
    campo=fmt.field_label,
    entidade=fmt.entity_label,
    provedor=fmt.provider_label,
    motivo=fmt.motivo_label,
    ator=fmt.actor_label,
    motivo_duplicata=fmt.duplicate_reason,
)
templates.env.globals.update(
    LOCAL_NAME=fmt.LOCAL_NAME,
    LOG_STATUS_LABELS=fmt.LOG_STATUS_LABELS,
    LOG_DIRECTIONS=eq.LOG_DIRECTIONS,
    DIRECTION_LABELS=fmt.DIRECTION_LABELS,
    TRIGGER_LABELS=fmt.TRIGGER_LABELS,
    OPERATION_LABELS=fmt.OPERATION_LABELS,
    FAILED_STATUS_LABELS=fmt.FAILED_STATUS_LABELS,
    ENTITY_LABELS=fmt.ENTITY_LABELS,
    record_title=fmt.record_title,
    diff_rows=fmt.diff_rows,
    direction_label=fmt.direction_label,
    CSRF_FIELD=CSRF_FIELD,
)


# ---------------------------------------------------------------------------- errors


ERROR_TEXT = {
    400: ("Pedido inválido", "Os dados enviados não puderam ser entendidos. Volte e tente de novo."),
    403: ("Ação não permitida", "O formulário expirou ou não veio desta página. Recarregue a página e tente de novo."),
    404: (
        "Página não encontrada",
        "Não encontramos o que você procurou. Ele pode já ter sido resolvido ou não existir.",
    ),
    405: ("Ação não permitida", "Esta ação não pode ser feita por aqui."),
    500: (
        "Algo deu errado",
        "Tivemos um problema ao mostrar esta página. Nada foi alterado; tente de novo em instantes.",
    ),
}


def render_error(request: Request, status: int, message: str | None = None) -> Response:
    title, default_message = ERROR_TEXT.get(status, ERROR_TEXT[500] if status >= 500 else ERROR_TEXT[400])
    try:
        session = load_session(request)
        return templates.TemplateResponse(
            request,
            "erro.html",
            {
                "titulo": title,
                "mensagem": message or default_message,
                "status": status,
                "loja": None,
                "csrf": session.csrf,
                "signed_in": session.loja_id is not None,
            },
            status_code=status,
        )
    except Exception:  # the error page itself must never fail
        log.exception("console error page failed")
        return HTMLResponse(
            f"<!doctype html><html lang='pt-BR'><meta charset='utf-8'><title>{title}</title>"
            f"<main><h1>{title}</h1><p>{default_message}</p>"
            "<p><a href='/console'>Voltar ao início</a></p></main>",
            status_code=status,
        )


class ConsoleRoute(APIRoute):
    """Every console route: friendly errors, session cookie written back, security headers."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                response = await original(request)
            except LoginRequired:
                target = request.url.path
                if request.method == "GET" and request.url.query:
                    target += "?" + request.url.query
                login_url = "/console/entrar"
                if request.method == "GET":
                    login_url += "?" + urlencode({"next": target})
                response = RedirectResponse(login_url, status_code=303)
            except CsrfFailed:
                response = render_error(request, 403)
            except StarletteHTTPException as exc:
                # The page's own Portuguese text, never the exception's detail.
                response = render_error(request, exc.status_code)
            except RequestValidationError:
                # Ids and filters are read as text and checked by the pages; this is a malformed request.
                response = render_error(request, 400)
            except Exception:
                log.exception("console page %s failed", request.url.path)
                response = render_error(request, 500)
            write_cookie(request, response)
            for key, value in SECURITY_HEADERS.items():
                response.headers.setdefault(key, value)
            if request.url.path.startswith("/console/static/"):
                response.headers.setdefault("Cache-Control", "public, max-age=3600")
            else:
                response.headers.setdefault("Cache-Control", "no-store")
            return response

        return handler


router = APIRouter(prefix="/console", route_class=ConsoleRoute, include_in_schema=False)


# ---------------------------------------------------------------------------- plumbing


@dataclass
class Store:
    id: int
    nome: str


def _sessions() -> sessionmaker[Session]:
    return get_sessionmaker()


def require_store(request: Request) -> Store:
    """The signed-in store, checked against the database on every request: a disabled store
    or a rotated API key ends the session."""
    session = load_session(request)
    if session.loja_id is None:
        raise LoginRequired()
    with _sessions()() as db:
        loja = db.get(Loja, session.loja_id)
        if loja is None or not loja.ativo or key_fingerprint(loja.api_key_hash) != session.key_fingerprint:
            end_session(request)
            raise LoginRequired()
        return Store(id=loja.id, nome=loja.nome)


def _store_tz(db: Session, loja_id: int) -> str:
    """The store's time zone (from its integration config), for showing times."""
    stmt = select(CrmIntegracao.config).where(CrmIntegracao.id_loja == loja_id)
    configs: list[Any] = list(db.scalars(stmt))
    for config in configs:
        tz = config.get("timezone") if isinstance(config, dict) else None
        if isinstance(tz, str):
            try:
                ZoneInfo(tz)
                return tz
            except Exception:
                continue
    return fmt.DEFAULT_TZ


def page(
    request: Request, store: Store, name: str, context: dict[str, Any], *, nav: str, status_code: int = 200
) -> Response:
    """Render a signed-in page with the common layout context (nav badges, flash, CSRF)."""
    session = load_session(request)
    with _sessions()() as db:
        counts = nav_counts(db, store.id)
        tz = context.pop("tz", None) or _store_tz(db, store.id)
        # The store's CRMs by integration id, for rows ("SuiteCRM 7f3a…") and the header.
        crms = {
            integ.id: fmt.provider_label(integ.provider)
            for integ in db.scalars(select(CrmIntegracao).where(CrmIntegracao.id_loja == store.id))
        }
    base = {
        "crms": crms,
        "crm_nome": " / ".join(sorted(set(crms.values()))) or "CRM",
        "loja": store,
        "csrf": session.csrf,
        "flash": session.pop_flash(),
        "nav": nav,
        "counts": counts,
        "tz": tz,
    }
    base.update(context)
    return templates.TemplateResponse(request, name, base, status_code=status_code)


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


async def _form(request: Request) -> dict[str, str]:
    """The posted form as plain strings, after checking the CSRF token."""
    form = await request.form()
    data = {k: v for k, v in form.items() if isinstance(v, str)}
    check_csrf(request, data.get(CSRF_FIELD))
    return data


def _int_param(value: str | None, default: int = 1) -> int:
    try:
        return max(1, int(value)) if value else default
    except ValueError:
        return default


def _safe_next(target: str | None) -> str:
    """Only redirect to our own pages after sign-in (no open redirect)."""
    if target and target.startswith("/console") and not target.startswith("//") and "\\" not in target:
        return target
    return "/console/conflitos"


def _pages(total: int, size: int, current: int) -> dict[str, int]:
    last = max(1, ceil(total / size))
    return {"atual": min(current, last), "ultima": last, "total": total}


# ---------------------------------------------------------------------------- sign-in


@router.get("")
@router.get("/")
def home(request: Request) -> Response:
    require_store(request)
    return redirect("/console/conflitos")


@router.get("/entrar")
def login_form(request: Request, next: str | None = None) -> Response:
    session = load_session(request)
    if session.loja_id is not None:
        try:
            require_store(request)
            return redirect(_safe_next(next))
        except LoginRequired:
            session = load_session(request)
    return templates.TemplateResponse(
        request, "entrar.html", {"csrf": session.csrf, "next": _safe_next(next), "erro": None, "loja": None}
    )


@router.post("/entrar")
async def login(request: Request) -> Response:
    data = await _form(request)
    key = (data.get("api_key") or "").strip()
    target = _safe_next(data.get("next"))

    def lookup() -> tuple[int, str] | None:
        with _sessions()() as db:
            loja = loja_by_api_key(db, key)
            return (loja.id, loja.api_key_hash) if loja is not None else None

    found = await run_in_threadpool(lookup) if key else None
    if found is None:
        session = load_session(request)
        return templates.TemplateResponse(
            request,
            "entrar.html",
            {
                "csrf": session.csrf,
                "next": target,
                "loja": None,
                "erro": "Chave de API inválida. Confira a chave da loja e tente de novo.",
            },
            status_code=401,
        )
    session = start_store_session(request, found[0], found[1])
    session.set_flash("Você entrou no console da loja.")
    return redirect(target)


@router.post("/sair")
async def logout(request: Request) -> Response:
    await _form(request)
    end_session(request)
    return redirect("/console/entrar")


# ---------------------------------------------------------------------------- static


@router.get("/static/{name}")
def static_file(name: str) -> Response:
    """Our own CSS and htmx (no CDN); only the listed files are served."""
    media = STATIC_FILES.get(name)
    if media is None:
        raise StarletteHTTPException(404)
    return FileResponse(STATIC_DIR / name, media_type=media)


# ---------------------------------------------------------------------------- conflicts


def _provider_of(db: Session, loja_id: int, integracao_id: int) -> str:
    integ = db.get(CrmIntegracao, integracao_id)
    if integ is None or integ.id_loja != loja_id:
        raise StarletteHTTPException(404)
    return integ.provider


@router.get("/conflitos")
def conflicts(request: Request, pagina: str | None = None) -> Response:
    store = require_store(request)
    current = _int_param(pagina)
    with _sessions()() as db:
        result = eq.list_conflicts(
            db, loja_id=store.id, status="pendente", limit=LIST_PAGE_SIZE, offset=(current - 1) * LIST_PAGE_SIZE
        )
    return page(
        request,
        store,
        "conflitos.html",
        {"conflitos": result["items"], "paginas": _pages(result["total"], LIST_PAGE_SIZE, current), "filtros": {}},
        nav="conflitos",
    )


def _field_order(names: Any) -> list[str]:
    """Fields in the record's own order (nome before e-mail), unknown ones after, by name."""
    known = list(fmt.FIELD_LABELS)
    return sorted(names, key=lambda n: (known.index(n) if n in known else len(known), n))


def _conflict_fields(conflict: dict[str, Any]) -> list[dict[str, Any]]:
    """Per field: the three values, their times, and which sides changed it since the base."""
    rows = []
    for name in _field_order(conflict["campos"]):
        info = conflict["campos"][name] or {}
        base, local, externo = info.get("base"), info.get("local"), info.get("externo")
        rows.append(
            {
                "nome": name,
                "base": base,
                "local": local,
                "externo": externo,
                "local_em": info.get("local_em"),
                "externo_em": info.get("externo_em"),
                "motivo": info.get("motivo"),
                "local_mudou": local != base,
                "externo_mudou": externo != base,
                "diferentes": local != externo,
            }
        )
    return rows


def _record_rows(local: dict[str, Any], externo: dict[str, Any], skip: set[str] | None = None) -> list[dict[str, Any]]:
    """Both records field by field (for the "dados completos" and duplicate comparisons)."""
    names = [k for k in fmt.FIELD_LABELS if k in local or k in externo]
    names += sorted(k for k in set(local) | set(externo) if k not in fmt.FIELD_LABELS)
    rows = []
    for n in names:
        lv, ev = local.get(n), externo.get(n)
        if n in (skip or set()) or isinstance(lv if n in local else ev, list):
            continue
        if lv in (None, "") and ev in (None, ""):
            continue  # empty on both sides: nothing to compare
        rows.append({"nome": n, "local": lv, "externo": ev, "diferentes": fmt.format_value(lv) != fmt.format_value(ev)})
    return rows


def _resolution_rows(conflict: dict[str, Any]) -> list[dict[str, Any]]:
    """What was decided, per field, read from the stored resolution."""
    resolucao = conflict.get("resolucao") or {}
    usar = resolucao.get("usar")
    escolhas: dict[str, Any] = resolucao["campos"] if isinstance(resolucao.get("campos"), dict) else {}
    valores: dict[str, Any] = resolucao["valores"] if isinstance(resolucao.get("valores"), dict) else {}
    rows = []
    campos = conflict.get("campos") or {}
    for name in _field_order(campos):
        info = campos[name]
        side = escolhas.get(name) if usar == "merge" else usar
        if isinstance(side, dict):
            side = side.get("usar") or side.get("lado")
        if name in valores:
            value = valores[name]
        elif side in ("local", "externo"):
            value = (info or {}).get(side)
        else:
            value = None
        rows.append({"nome": name, "lado": side, "valor": value})
    return rows


def _conflict_page(
    request: Request,
    store: Store,
    conflito_id: int,
    *,
    erro: str | None = None,
    escolhas: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    with _sessions()() as db:
        conflict = eq.get_conflict(db, conflito_id, loja_id=store.id)
        if conflict is None:
            raise StarletteHTTPException(404)
        provider = _provider_of(db, store.id, conflict["id_integracao"])
    fields = _conflict_fields(conflict)
    return page(
        request,
        store,
        "conflito.html",
        {
            "c": conflict,
            "campos": fields,
            "provedor": fmt.provider_label(provider),
            "dados": _record_rows(conflict["dados_local"], conflict["dados_externo"]),
            "resolucao": _resolution_rows(conflict) if conflict["status"] != "pendente" else [],
            "erro": erro,
            "escolhas": escolhas or {},
        },
        nav="conflitos",
        status_code=status_code,
    )


@router.get("/conflitos/{conflito_id}")
def conflict_detail(request: Request, conflito_id: str) -> Response:
    store = require_store(request)
    if not conflito_id.isdigit():
        raise StarletteHTTPException(404)
    return _conflict_page(request, store, int(conflito_id))


@router.post("/conflitos/{conflito_id}/resolver")
async def conflict_resolve(request: Request, conflito_id: str) -> Response:
    store = await run_in_threadpool(require_store, request)  # signed out: to the sign-in page
    data = await _form(request)
    if not conflito_id.isdigit():
        raise StarletteHTTPException(404)
    cid = int(conflito_id)
    usar = data.get("usar", "")
    escolhas = {k[len("campo__") :]: v for k, v in data.items() if k.startswith("campo__")}
    return await run_in_threadpool(_do_resolve_conflict, request, store, cid, usar, escolhas)


def _do_resolve_conflict(request: Request, store: Store, cid: int, usar: str, escolhas: dict[str, str]) -> Response:
    with _sessions()() as db:
        conflict = eq.get_conflict(db, cid, loja_id=store.id)
        if conflict is None:
            raise StarletteHTTPException(404)
        provider = _provider_of(db, store.id, conflict["id_integracao"])
    if conflict["status"] != "pendente":
        load_session(request).set_flash("Este conflito já foi resolvido.", "aviso")
        return redirect(f"/console/conflitos/{cid}")
    if usar not in ("local", "externo", "merge"):
        return _conflict_page(
            request,
            store,
            cid,
            status_code=422,
            erro=f"Escolha uma das opções: Usar Ecletech, Usar {fmt.provider_label(provider)} ou Mesclar.",
        )
    campos: dict[str, str] | None = None
    if usar == "merge":
        names = set(conflict["campos"])
        missing = [fmt.field_label(n) for n in sorted(names) if escolhas.get(n) not in ("local", "externo")]
        if missing:
            return _conflict_page(
                request,
                store,
                cid,
                escolhas=escolhas,
                status_code=422,
                erro="Para mesclar, escolha o valor de cada campo: " + ", ".join(missing) + ".",
            )
        campos = {n: escolhas[n] for n in sorted(names)}
    try:
        result = actions.resolve_conflict(_sessions(), store.id, provider, cid, usar, campos)
    except actions.ActionError as exc:
        return _conflict_page(request, store, cid, erro=str(exc), escolhas=escolhas, status_code=409)
    label = {
        "local": "os valores do Ecletech",
        "externo": f"os valores do {fmt.provider_label(provider)}",
        "merge": "a mesclagem escolhida",
    }[usar]
    extra = result.get("message") or result.get("mensagem")
    text = f"Conflito resolvido com {label}. Os dois sistemas foram atualizados."
    if isinstance(extra, str) and extra:
        text += " " + extra
    ok = result.get("success", True) is not False
    if not ok:
        text = "A decisão foi registrada, mas a gravação em um dos lados falhou; veja o registro."
    load_session(request).set_flash(text, "sucesso" if ok else "erro")
    return redirect(f"/console/conflitos/{cid}")


# ---------------------------------------------------------------------------- duplicates


@router.get("/duplicatas")
def duplicates(request: Request, pagina: str | None = None) -> Response:
    store = require_store(request)
    current = _int_param(pagina)
    with _sessions()() as db:
        result = eq.list_duplicates(
            db, loja_id=store.id, status="pendente", limit=LIST_PAGE_SIZE, offset=(current - 1) * LIST_PAGE_SIZE
        )
    items = [dict(d, linhas=_record_rows(d["dados_local"], d["dados_externo"])) for d in result["items"]]
    return page(
        request,
        store,
        "duplicatas.html",
        {"duplicatas": items, "paginas": _pages(result["total"], LIST_PAGE_SIZE, current), "filtros": {}},
        nav="duplicatas",
    )


@router.post("/duplicatas/{duplicata_id}/resolver")
async def duplicate_resolve(request: Request, duplicata_id: str) -> Response:
    store = await run_in_threadpool(require_store, request)  # signed out: to the sign-in page
    data = await _form(request)
    if not duplicata_id.isdigit():
        raise StarletteHTTPException(404)
    return await run_in_threadpool(_do_resolve_duplicate, request, store, int(duplicata_id), data.get("acao", ""))


def _do_resolve_duplicate(request: Request, store: Store, did: int, acao: str) -> Response:
    with _sessions()() as db:
        dup = eq.get_duplicate(db, did, loja_id=store.id)
        if dup is None:
            raise StarletteHTTPException(404)
        provider = _provider_of(db, store.id, dup["id_integracao"])
    session = load_session(request)
    if dup["status"] != "pendente":
        session.set_flash("Esta sugestão já foi tratada.", "aviso")
    elif acao not in ("vincular", "descartar"):
        session.set_flash("Escolha Vincular ou Descartar.", "erro")
    else:
        try:
            actions.resolve_duplicate(_sessions(), store.id, provider, did, acao)
        except actions.ActionError as exc:
            session.set_flash(str(exc), "erro")
        else:
            nome = fmt.record_title(dup["dados_local"])
            session.set_flash(
                f"{nome}: registros vinculados; a partir de agora são sincronizados como um só."
                if acao == "vincular"
                else f"{nome}: sugestão descartada; os registros continuam separados."
            )
    return redirect("/console/duplicatas")


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
    current = _int_param(pagina)
    with _sessions()() as db:
        tz = _store_tz(db, store.id)
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
            "paginas": _pages(result["total"], LOG_PAGE_SIZE, current),
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
    await _form(request)
    if not item_id.isdigit() or acao not in ("tentar", "ignorar"):
        raise StarletteHTTPException(404)
    return await run_in_threadpool(_do_failed_item, request, store, int(item_id), acao)


def _do_failed_item(request: Request, store: Store, item_id: int, acao: str) -> Response:
    sf = _sessions()
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
        row["duplicatas_pendentes"] = pending_duplicates(db, integ.id)
        row["requisicoes"] = row.get("requisicoes") or {}
        row["itens_falhos"] = row.get("itens_falhos") or {}
        rows.append(row)
    return rows


@router.get("/integracoes")
def integrations(request: Request) -> Response:
    store = require_store(request)
    with _sessions()() as db:
        rows = _integration_rows(db, store.id)
    return page(request, store, "integracoes.html", {"integracoes": rows}, nav="integracoes")


@router.post("/integracoes/{integracao_id}/sincronizar")
async def integration_sync(request: Request, integracao_id: str) -> Response:
    store = await run_in_threadpool(require_store, request)  # signed out: to the sign-in page
    await _form(request)
    if not integracao_id.isdigit():
        raise StarletteHTTPException(404)
    return await run_in_threadpool(_do_sync, request, store, int(integracao_id))


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
    with _sessions()() as db:
        integ = db.get(CrmIntegracao, integracao_id)
        if integ is None or integ.id_loja != store.id:
            raise StarletteHTTPException(404)
        provider = integ.provider
    session = load_session(request)
    try:
        result = actions.sync_now(_sessions(), store.id, integracao_id, provider)
    except actions.ActionError as exc:
        session.set_flash(str(exc), "erro")
    else:
        if "na_fila" in result:
            session.set_flash(str(result["na_fila"]), "aviso")
            return redirect("/console/integracoes")
        ok = result.get("success", True) is not False
        session.set_flash(_summary_text(result, provider), "sucesso" if ok else "aviso")
    return redirect("/console/integracoes")


# ---------------------------------------------------------------------------- fallback


@router.api_route("/{rest:path}", methods=["GET", "POST", "PUT", "DELETE", "PATCH"])
def not_found(request: Request, rest: str) -> Response:
    """Any other console address: the friendly 404 page, not the API's JSON."""
    return render_error(request, 404)


__all__ = ["router"]
