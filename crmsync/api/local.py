"""Local data of the calling store: `/api/clientes`, `/api/produtos`, `/api/vendas`.

Every route is scoped by the store's API key (`Authorization: Bearer <chave>`); another
store's ids answer 404. Lists are paginated with `?limit=&offset=` (or the spec's
`?pagina=&limite=`, pages from 1), ordered by id, at most 500 per page, and answer
`{"registros": [...], "total", "limit", "offset"}`. Soft-deleted rows are left out unless
`?incluir_deletados=true`. A create, update or delete schedules the push automatically
(`crmsync.db.hooks.after_local_write`). Responses use the local column names; money
and quantities are strings with 4 decimal places.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, create_model

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

ClienteOut = svc.OUTPUT_MODELS["cliente"]
ProdutoOut = svc.OUTPUT_MODELS["produto"]
VendaOut = svc.OUTPUT_MODELS["venda"]


def _page_model(name: str, item: type[BaseModel]) -> type[BaseModel]:
    return create_model(
        name,
        registros=(list[item], ...),  # type: ignore[valid-type]
        total=(int, ...),
        limit=(int, ...),
        offset=(int, ...),
    )


ClientePage = _page_model("ClientePage", ClienteOut)
ProdutoPage = _page_model("ProdutoPage", ProdutoOut)
VendaPage = _page_model("VendaPage", VendaOut)

Limit = Annotated[int | None, Query(ge=1, le=svc.MAX_LIMIT, description="Itens por página (padrão 50).")]
Offset = Annotated[int | None, Query(ge=0, le=MAX_OFFSET, description="Quantos itens pular.")]
Pagina = Annotated[
    int | None, Query(ge=1, le=MAX_OFFSET // svc.MAX_LIMIT, description="Página (a partir de 1), com `limite`.")
]
Limite = Annotated[int | None, Query(ge=1, le=svc.MAX_LIMIT, description="Itens por página, com `pagina`.")]
Since = Annotated[datetime | None, Query(description="Modificadas desde (ISO 8601; sem fuso = UTC).")]
WithDeleted = Annotated[bool, Query(description="Incluir linhas excluídas (soft delete).")]


def _page(
    session: SessionDep,
    loja_id: int,
    entity: str,
    filters: ListFilters,
    limit: int | None,
    offset: int | None,
    pagina: int | None,
    limite: int | None,
) -> dict[str, Any]:
    size, start = svc.page_bounds(limit, offset, pagina, limite)
    rows, total = svc.list_records(session, loja_id, entity, filters, limit=size, offset=start)
    return {
        "registros": [svc.row_to_dict(entity, r) for r in rows],
        "total": total,
        "limit": size,
        "offset": start,
    }


# --- clientes ------------------------------------------------------------------------------


@router.get("/clientes", response_model=ClientePage)
def list_clientes(
    loja: LojaDep,
    session: SessionDep,
    email: str | None = None,
    cpf: str | None = None,
    cnpj: str | None = None,
    modificado_desde: Since = None,
    incluir_deletados: WithDeleted = False,
    limit: Limit = None,
    offset: Offset = None,
    pagina: Pagina = None,
    limite: Limite = None,
) -> dict[str, Any]:
    """Customers of the store. Filters: `email`, `cpf`, `cnpj` (punctuation ignored),
    `modificado_desde`, `incluir_deletados`. Pagination: `limit`/`offset` or `pagina`/`limite`."""
    filters = ListFilters(
        email=email,
        cpf=cpf,
        cnpj=cnpj,
        modificado_desde=modificado_desde,
        incluir_deletados=incluir_deletados,
    )
    return _page(session, loja.id, "cliente", filters, limit, offset, pagina, limite)


@router.post("/clientes", response_model=ClienteOut, status_code=201)
def create_cliente(body: ClienteIn, loja: LojaDep, session: SessionDep) -> dict[str, Any]:
    """Create a customer. 409 if a live customer of the store has the same CPF, CNPJ or e-mail."""
    row = svc.create_record(session, loja.id, "cliente", body.model_dump(exclude_unset=True))
    return svc.row_to_dict("cliente", row)


@router.get("/clientes/{cliente_id}", response_model=ClienteOut)
def get_cliente(cliente_id: int, loja: LojaDep, session: SessionDep) -> dict[str, Any]:
    """One customer (soft-deleted ones too, with `deletado_em`)."""
    return svc.row_to_dict("cliente", svc.get_record(session, loja.id, "cliente", cliente_id))


@router.put("/clientes/{cliente_id}", response_model=ClienteOut)
def update_cliente(
    cliente_id: int,
    body: ClienteUpdate,
    loja: LojaDep,
    session: SessionDep,
) -> dict[str, Any]:
    """Change the fields sent; the others keep their values."""
    data = body.model_dump(exclude_unset=True)
    return svc.row_to_dict("cliente", svc.update_record(session, loja.id, "cliente", cliente_id, data))


@router.delete("/clientes/{cliente_id}", response_model=ClienteOut)
def delete_cliente(cliente_id: int, loja: LojaDep, session: SessionDep) -> dict[str, Any]:
    """Soft delete: sets `deletado_em`; answers the row as it now is."""
    return svc.row_to_dict("cliente", svc.delete_record(session, loja.id, "cliente", cliente_id))


# --- produtos ------------------------------------------------------------------------------


@router.get("/produtos", response_model=ProdutoPage)
def list_produtos(
    loja: LojaDep,
    session: SessionDep,
    codigo: str | None = None,
    codigo_barra: str | None = None,
    modificado_desde: Since = None,
    incluir_deletados: WithDeleted = False,
    limit: Limit = None,
    offset: Offset = None,
    pagina: Pagina = None,
    limite: Limite = None,
) -> dict[str, Any]:
    """Products of the store. Filters: `codigo`, `codigo_barra`, `modificado_desde`,
    `incluir_deletados`. Pagination: `limit`/`offset` or `pagina`/`limite`."""
    filters = ListFilters(
        codigo=codigo,
        codigo_barra=codigo_barra,
        modificado_desde=modificado_desde,
        incluir_deletados=incluir_deletados,
    )
    return _page(session, loja.id, "produto", filters, limit, offset, pagina, limite)


@router.post("/produtos", response_model=ProdutoOut, status_code=201)
def create_produto(body: ProdutoIn, loja: LojaDep, session: SessionDep) -> dict[str, Any]:
    """Create a product. 409 if a live product of the store has the same `codigo` or `codigo_barra`."""
    row = svc.create_record(session, loja.id, "produto", body.model_dump(exclude_unset=True))
    return svc.row_to_dict("produto", row)


@router.get("/produtos/{produto_id}", response_model=ProdutoOut)
def get_produto(produto_id: int, loja: LojaDep, session: SessionDep) -> dict[str, Any]:
    """One product (soft-deleted ones too, with `deletado_em`)."""
    return svc.row_to_dict("produto", svc.get_record(session, loja.id, "produto", produto_id))


@router.put("/produtos/{produto_id}", response_model=ProdutoOut)
def update_produto(
    produto_id: int,
    body: ProdutoUpdate,
    loja: LojaDep,
    session: SessionDep,
) -> dict[str, Any]:
    """Change the fields sent; the others keep their values."""
    data = body.model_dump(exclude_unset=True)
    return svc.row_to_dict("produto", svc.update_record(session, loja.id, "produto", produto_id, data))


@router.delete("/produtos/{produto_id}", response_model=ProdutoOut)
def delete_produto(produto_id: int, loja: LojaDep, session: SessionDep) -> dict[str, Any]:
    """Soft delete: sets `deletado_em`; answers the row as it now is."""
    return svc.row_to_dict("produto", svc.delete_record(session, loja.id, "produto", produto_id))


# --- vendas --------------------------------------------------------------------------------


@router.get("/vendas", response_model=VendaPage)
def list_vendas(
    loja: LojaDep,
    session: SessionDep,
    codigo: str | None = None,
    id_cliente: int | None = None,
    modificado_desde: Since = None,
    incluir_deletados: WithDeleted = False,
    limit: Limit = None,
    offset: Offset = None,
    pagina: Pagina = None,
    limite: Limite = None,
) -> dict[str, Any]:
    """Sales of the store, with their items. Filters: `codigo`, `id_cliente`,
    `modificado_desde`, `incluir_deletados`. Pagination: `limit`/`offset` or `pagina`/`limite`."""
    filters = ListFilters(
        codigo=codigo,
        id_cliente=id_cliente,
        modificado_desde=modificado_desde,
        incluir_deletados=incluir_deletados,
    )
    return _page(session, loja.id, "venda", filters, limit, offset, pagina, limite)


@router.post("/vendas", response_model=VendaOut, status_code=201)
def create_venda(body: VendaIn, loja: LojaDep, session: SessionDep) -> dict[str, Any]:
    """Create a sale. `id_cliente` and every item's `id_produto` must be live rows of the
    same store (422 naming the field otherwise); `valor_total` defaults to the items' sum."""
    row = svc.create_record(session, loja.id, "venda", body.model_dump(exclude_unset=True))
    return svc.row_to_dict("venda", row)


@router.get("/vendas/{venda_id}", response_model=VendaOut)
def get_venda(venda_id: int, loja: LojaDep, session: SessionDep) -> dict[str, Any]:
    """One sale with its items (soft-deleted ones too, with `deletado_em`)."""
    return svc.row_to_dict("venda", svc.get_record(session, loja.id, "venda", venda_id))


@router.put("/vendas/{venda_id}", response_model=VendaOut)
def update_venda(
    venda_id: int,
    body: VendaUpdate,
    loja: LojaDep,
    session: SessionDep,
) -> dict[str, Any]:
    """Change the fields sent; `itens`, when sent, replaces all items."""
    data = body.model_dump(exclude_unset=True)
    return svc.row_to_dict("venda", svc.update_record(session, loja.id, "venda", venda_id, data))


@router.delete("/vendas/{venda_id}", response_model=VendaOut)
def delete_venda(venda_id: int, loja: LojaDep, session: SessionDep) -> dict[str, Any]:
    """Soft delete: sets `deletado_em`; answers the row as it now is."""
    return svc.row_to_dict("venda", svc.delete_record(session, loja.id, "venda", venda_id))
