"""Console pages of the decisions a store makes: pending conflicts (one by one, side by side,
field by field) and suggested duplicates (link or dismiss). Reading goes through the shared
queries (`crmsync.services.queries`), deciding through `crmsync.services.console_actions`,
the same code the API and the CLI use."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from crmsync.db.sync import CrmIntegracao
from crmsync.services import console_actions as actions
from crmsync.services import queries as eq
from crmsync.web import format as fmt
from crmsync.web.pages import (
    LIST_PAGE_SIZE,
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
)

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
ItemView = Callable[[dict[str, Any]], dict[str, Any]]

# ---------------------------------------------------------------------------- conflicts


def _item_of_store(get: Callable[..., dict[str, Any] | None], item_id: int, store: Store) -> tuple[dict[str, Any], str]:
    """A review item of this store (`eq.get_conflict`, `eq.get_duplicate`) and its CRM's
    provider, or the 404 page (another store's item is as missing as an unknown one)."""
    with sessions()() as db:
        item = get(db, item_id, loja_id=store.id)
        integ = db.get(CrmIntegracao, item["id_integracao"]) if item is not None else None
        if item is None or integ is None or integ.id_loja != store.id:
            raise StarletteHTTPException(404)
        return item, integ.provider


def _pending_page(
    request: Request, pagina: str | None, name: str, listing: Callable[..., eq.PageDict], shown: ItemView = dict
) -> Response:
    """A page of the store's items waiting for a decision (`conflitos`, `duplicatas`: the
    page, its template and its list are all called `name`), each item as `shown`."""
    store = require_store(request)
    current = page_param(pagina, LIST_PAGE_SIZE)
    with sessions()() as db:
        result = listing(
            db, loja_id=store.id, status="pendente", limit=LIST_PAGE_SIZE, offset=(current - 1) * LIST_PAGE_SIZE
        )
    context = {
        name: [shown(item) for item in result["items"]],
        "paginas": pages(result["total"], LIST_PAGE_SIZE, current),
        "filtros": {},
    }
    return page(request, store, f"{name}.html", context, nav=name)


@router.get("/conflitos")
def conflicts(request: Request, pagina: str | None = None) -> Response:
    return _pending_page(request, pagina, "conflitos", eq.list_conflicts)


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
    conflict, provider = _item_of_store(eq.get_conflict, conflito_id, store)
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
    return _conflict_page(request, store, id_param(conflito_id))


@router.post("/conflitos/{conflito_id}/resolver")
async def conflict_resolve(request: Request, conflito_id: str) -> Response:
    store = await run_in_threadpool(require_store, request)  # signed out: to the sign-in page
    data = await posted_form(request)
    cid = id_param(conflito_id)
    usar = data.get("usar", "")
    escolhas = {k[len("campo__") :]: v for k, v in data.items() if k.startswith("campo__")}
    return await run_in_threadpool(_do_resolve_conflict, request, store, cid, usar, escolhas)


def _do_resolve_conflict(request: Request, store: Store, cid: int, usar: str, escolhas: dict[str, str]) -> Response:
    conflict, provider = _item_of_store(eq.get_conflict, cid, store)
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
        result = actions.resolve_conflict(sessions(), store.id, provider, cid, usar, campos)
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
    return _pending_page(
        request,
        pagina,
        "duplicatas",
        eq.list_duplicates,
        lambda d: dict(d, linhas=_record_rows(d["dados_local"], d["dados_externo"])),
    )


@router.post("/duplicatas/{duplicata_id}/resolver")
async def duplicate_resolve(request: Request, duplicata_id: str) -> Response:
    store = await run_in_threadpool(require_store, request)  # signed out: to the sign-in page
    data = await posted_form(request)
    did = id_param(duplicata_id)
    return await run_in_threadpool(_do_resolve_duplicate, request, store, did, data.get("acao", ""))


def _do_resolve_duplicate(request: Request, store: Store, did: int, acao: str) -> Response:
    dup, provider = _item_of_store(eq.get_duplicate, did, store)
    session = load_session(request)
    if dup["status"] != "pendente":
        session.set_flash("Esta sugestão já foi tratada.", "aviso")
    elif acao not in ("vincular", "descartar"):
        session.set_flash("Escolha Vincular ou Descartar.", "erro")
    else:
        try:
            actions.resolve_duplicate(sessions(), store.id, provider, did, acao)
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
