"""Plumbing shared by every console page: templates, the error page, the route class that
turns any exception into a friendly page, the signed-in store, the common layout and the
parsing of ids and page numbers from the address.

Errors never reach the user as a stack trace: :class:`ConsoleRoute` turns every exception of a
console route into a friendly Portuguese page (and a redirect to sign-in when needed). Ids and
page numbers no database can hold are the 404 / 400 page, never a query (issue #20).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from math import ceil
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from starlette.exceptions import HTTPException as StarletteHTTPException

from crmsync.db.local import Loja
from crmsync.db.session import get_sessionmaker
from crmsync.db.sync import CrmIntegracao
from crmsync.services import queries as eq
from crmsync.services.console import nav_counts
from crmsync.services.ids import MAX_OFFSET, valid_id
from crmsync.web import format as fmt
from crmsync.web.auth import (
    CSRF_FIELD,
    CsrfFailed,
    LoginRequired,
    check_csrf,
    end_session,
    key_fingerprint,
    load_session,
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


# ---------------------------------------------------------------------------- plumbing


@dataclass
class Store:
    id: int
    nome: str


def sessions() -> sessionmaker[Session]:
    return get_sessionmaker()


def require_store(request: Request) -> Store:
    """The signed-in store, checked against the database on every request: a disabled store
    or a rotated API key ends the session."""
    session = load_session(request)
    if session.loja_id is None:
        raise LoginRequired()
    with sessions()() as db:
        loja = db.get(Loja, session.loja_id)
        if loja is None or not loja.ativo or key_fingerprint(loja.api_key_hash) != session.key_fingerprint:
            end_session(request)
            raise LoginRequired()
        return Store(id=loja.id, nome=loja.nome)


def store_tz(db: Session, loja_id: int) -> str:
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
    with sessions()() as db:
        counts = nav_counts(db, store.id)
        tz = context.pop("tz", None) or store_tz(db, store.id)
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


async def posted_form(request: Request) -> dict[str, str]:
    """The posted form as plain strings, after checking the CSRF token."""
    form = await request.form()
    data = {k: v for k, v in form.items() if isinstance(v, str)}
    check_csrf(request, data.get(CSRF_FIELD))
    return data


def page_param(value: str | None, size: int) -> int:
    """`?pagina=`: text that is not a number is page 1 (a hand-edited address still shows
    something); a page past any table (its offset beyond MAX_OFFSET, where 2^63 overflows
    every driver) is a malformed request, answered with the friendly 400 page."""
    try:
        number = max(1, int(value)) if value and len(value) <= 40 else 1
    except ValueError:
        return 1
    if (value and len(value) > 40) or (number - 1) * size > MAX_OFFSET:
        raise StarletteHTTPException(400)
    return number


def id_param(value: str) -> int:
    """A row id from the address: ASCII digits within the ids' range, or the 404 page (a
    `²` passes `str.isdigit` but not `int`, and 2^63 overflows the database drivers)."""
    if not (value.isascii() and value.isdigit() and len(value) <= 12) or not valid_id(int(value)):
        raise StarletteHTTPException(404)
    return int(value)


def safe_next(target: str | None) -> str:
    """Only redirect to our own pages after sign-in (no open redirect)."""
    if target and target.startswith("/console") and not target.startswith("//") and "\\" not in target:
        return target
    return "/console/conflitos"


def pages(total: int, size: int, current: int) -> dict[str, int]:
    last = max(1, ceil(total / size))
    return {"atual": min(current, last), "ultima": last, "total": total}
