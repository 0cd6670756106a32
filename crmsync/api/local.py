"""Local data of the calling store: `/api/clientes`, `/api/produtos`, `/api/vendas`.

Every route is scoped by the store's API key (`Authorization: Bearer <chave>`); another
store's ids answer 404. Lists are paginated with `?limit=&offset=` (or the spec's
`?pagina=&limite=`, pages from 1), ordered by id, at most 500 per page, and answer
`{"registros": [...], "total", "limit", "offset"}`. Soft-deleted rows are left out unless
`?incluir_deletados=true`. A create, update or delete schedules the push automatically
(`crmsync.db.hooks.after_local_write`). Responses use the local column names; money
and quantities are strings with 4 decimal places.

The three entities have the same five routes, made by `_entity_routes` from what differs:
the filters of their lists, the request bodies, the descriptions. (No `from __future__
import annotations` here: the routes' annotations name the entity's models, which FastAPI
must see as objects, not as names to look up in this module.)
"""

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field, create_model

from crmsync.api.deps import LojaDep, SessionDep
from crmsync.api.limits import ReleasingRoute
from crmsync.services import local_data as svc
from crmsync.services.ids import MAX_OFFSET
from crmsync.services.local_shapes import (
    ClienteIn,
    ClienteUpdate,
    ListFilters,
    ProdutoIn,
    ProdutoUpdate,
    VendaIn,
    VendaUpdate,
)

router = APIRouter(route_class=ReleasingRoute, prefix="/api", tags=["dados locais"])

Limit = Annotated[int | None, Query(ge=1, le=svc.MAX_LIMIT, description="Itens por página (padrão 50).")]
Offset = Annotated[int | None, Query(ge=0, le=MAX_OFFSET, description="Quantos itens pular.")]
Pagina = Annotated[
    int | None, Query(ge=1, le=MAX_OFFSET // svc.MAX_LIMIT, description="Página (a partir de 1), com `limite`.")
]
Limite = Annotated[int | None, Query(ge=1, le=svc.MAX_LIMIT, description="Itens por página, com `pagina`.")]


async def _bounds(limit: Limit = None, offset: Offset = None, pagina: Pagina = None, limite: Limite = None) -> Any:
    """(page size, offset) of `limit`/`offset` or `pagina`/`limite` (async: no I/O, no thread)."""
    return svc.page_bounds(limit, offset, pagina, limite)


Bounds = Annotated[tuple[int, int], Depends(_bounds)]

# Each list's own filters (query parameters), besides `modificado_desde` and `incluir_deletados`.
_FILTERS: dict[str, dict[str, Any]] = {
    "cliente": {"email": str | None, "cpf": str | None, "cnpj": str | None},
    "produto": {"codigo": str | None, "codigo_barra": str | None},
    "venda": {"codigo": str | None, "id_cliente": int | None},
}


def _filters_model(entity: str) -> type[BaseModel]:
    fields: dict[str, Any] = {name: (kind, None) for name, kind in _FILTERS[entity].items()}
    fields["modificado_desde"] = (
        datetime | None,
        Field(None, description="Modificadas desde (ISO 8601; sem fuso = UTC)."),
    )
    fields["incluir_deletados"] = (bool, Field(False, description="Incluir linhas excluídas (soft delete)."))
    return create_model(f"{entity.capitalize()}Filtros", **fields)


def _entity_routes(entity: str, body: type[BaseModel], update: type[BaseModel], docs: dict[str, str]) -> None:
    """The five routes of `entity`: list, create, read, change and (soft) delete."""
    path = f"/{entity}s"
    out = svc.OUTPUT_MODELS[entity]
    page = create_model(
        f"{entity.capitalize()}Page",
        registros=(list[out], ...),  # type: ignore[valid-type]
        total=(int, ...),
        limit=(int, ...),
        offset=(int, ...),
    )
    Filters = Annotated[_filters_model(entity), Query()]  # type: ignore[valid-type]
    ItemId = Annotated[int, Path(alias=f"{entity}_id")]

    def listing(loja: LojaDep, session: SessionDep, filters: Filters, bounds: Bounds) -> dict[str, Any]:  # type: ignore[valid-type]
        size, start = bounds
        wanted = ListFilters(**filters.model_dump())  # type: ignore[attr-defined]
        rows, total = svc.list_records(session, loja.id, entity, wanted, limit=size, offset=start)
        return {"registros": [svc.row_to_dict(entity, r) for r in rows], "total": total, "limit": size, "offset": start}

    def create(data: body, loja: LojaDep, session: SessionDep) -> dict[str, Any]:  # type: ignore[valid-type]
        row = svc.create_record(session, loja.id, entity, data.model_dump(exclude_unset=True))  # type: ignore[attr-defined]
        return svc.row_to_dict(entity, row)

    def read(item_id: ItemId, loja: LojaDep, session: SessionDep) -> dict[str, Any]:
        return svc.row_to_dict(entity, svc.get_record(session, loja.id, entity, item_id))

    def change(item_id: ItemId, data: update, loja: LojaDep, session: SessionDep) -> dict[str, Any]:  # type: ignore[valid-type]
        values = data.model_dump(exclude_unset=True)  # type: ignore[attr-defined]
        return svc.row_to_dict(entity, svc.update_record(session, loja.id, entity, item_id, values))

    def delete(item_id: ItemId, loja: LojaDep, session: SessionDep) -> dict[str, Any]:
        return svc.row_to_dict(entity, svc.delete_record(session, loja.id, entity, item_id))

    one = f"{path}/{{{entity}_id}}"
    for route_path, endpoint, method, name, model, status in (
        (path, listing, "GET", f"list_{entity}s", page, 200),
        (path, create, "POST", f"create_{entity}", out, 201),
        (one, read, "GET", f"get_{entity}", out, 200),
        (one, change, "PUT", f"update_{entity}", out, 200),
        (one, delete, "DELETE", f"delete_{entity}", out, 200),
    ):
        router.add_api_route(
            route_path,
            endpoint,
            methods=[method],
            name=name,
            response_model=model,
            status_code=status,
            description=docs[name.split("_", 1)[0]],
        )


_DELETE_DOC = "Soft delete: sets `deletado_em`; answers the row as it now is."
_entity_routes(
    "cliente",
    ClienteIn,
    ClienteUpdate,
    {
        "list": "Customers of the store. Filters: `email`, `cpf`, `cnpj` (punctuation ignored), "
        "`modificado_desde`, `incluir_deletados`. Pagination: `limit`/`offset` or `pagina`/`limite`.",
        "create": "Create a customer. 409 if a live customer of the store has the same CPF, CNPJ or e-mail.",
        "get": "One customer (soft-deleted ones too, with `deletado_em`).",
        "update": "Change the fields sent; the others keep their values.",
        "delete": _DELETE_DOC,
    },
)
_entity_routes(
    "produto",
    ProdutoIn,
    ProdutoUpdate,
    {
        "list": "Products of the store. Filters: `codigo`, `codigo_barra`, `modificado_desde`, "
        "`incluir_deletados`. Pagination: `limit`/`offset` or `pagina`/`limite`.",
        "create": "Create a product. 409 if a live product of the store has the same `codigo` or `codigo_barra`.",
        "get": "One product (soft-deleted ones too, with `deletado_em`).",
        "update": "Change the fields sent; the others keep their values.",
        "delete": _DELETE_DOC,
    },
)
_entity_routes(
    "venda",
    VendaIn,
    VendaUpdate,
    {
        "list": "Sales of the store, with their items. Filters: `codigo`, `id_cliente`, `modificado_desde`, "
        "`incluir_deletados`. Pagination: `limit`/`offset` or `pagina`/`limite`.",
        "create": "Create a sale. `id_cliente` and every item's `id_produto` must be live rows of the same store "
        "(422 naming the field otherwise); `valor_total` defaults to the items' sum.",
        "get": "One sale with its items (soft-deleted ones too, with `deletado_em`).",
        "update": "Change the fields sent; `itens`, when sent, replaces all items.",
        "delete": _DELETE_DOC,
    },
)
