"""Web console (server-rendered, Portuguese) under ``/console``: the router, sign-in and
sign-out, our static files, and the friendly 404 for any other address.

The people deciding conflicts and duplicates are store staff, so every page is plain HTML
that works without JavaScript and at phone width; htmx (served from our own static files)
only makes the log filters update in place. A store signs in with its API key; every query
is scoped to that store, and another store's id answers 404 exactly like a missing one.

The pages live in `crmsync.web.review_pages` (conflicts, duplicates) and
`crmsync.web.activity_pages` (log, failed items, integrations); their shared plumbing (error
pages, the signed-in store, the layout) in `crmsync.web.pages`.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from crmsync.services.lojas import loja_by_api_key
from crmsync.web import activity_pages, review_pages
from crmsync.web.auth import end_session, load_session, start_store_session
from crmsync.web.pages import (
    STATIC_DIR,
    STATIC_FILES,
    ConsoleRoute,
    LoginRequired,
    posted_form,
    redirect,
    render_error,
    require_store,
    safe_next,
    sessions,
    templates,
)

router = APIRouter(prefix="/console", route_class=ConsoleRoute, include_in_schema=False)


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
            return redirect(safe_next(next))
        except LoginRequired:
            session = load_session(request)
    return templates.TemplateResponse(
        request, "entrar.html", {"csrf": session.csrf, "next": safe_next(next), "erro": None, "loja": None}
    )


@router.post("/entrar")
async def login(request: Request) -> Response:
    data = await posted_form(request)
    key = (data.get("api_key") or "").strip()
    target = safe_next(data.get("next"))

    def lookup() -> tuple[int, str] | None:
        with sessions()() as db:
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
    await posted_form(request)
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


# ---------------------------------------------------------------------------- the pages

router.include_router(review_pages.router)
router.include_router(activity_pages.router)


# ---------------------------------------------------------------------------- fallback


@router.api_route("/{rest:path}", methods=["GET", "POST", "PUT", "DELETE", "PATCH"])
def not_found(request: Request, rest: str) -> Response:
    """Any other console address: the friendly 404 page, not the API's JSON."""
    return render_error(request, 404)


__all__ = ["router"]
