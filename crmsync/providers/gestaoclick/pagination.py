"""Page-number pagination over GestãoClick's `meta` object, with loop guards.

Shaped like dlt's paginators: one object per listing that reads each answer
(`update(meta, items, page)`) and says what to ask next (`next_page`). A realistic answer::

    GET /clientes?pagina=2&limite=100
    {"code": 200, "status": "success",
     "meta": {"total_registros": 279, "total_da_pagina": 100, "pagina_atual": 2,
              "limite_por_pagina": 100, "proxima_pagina": 3,
              "proxima_url": "/api/clientes?pagina=3"},
     "data": [...100 clientes...]}

The API documents two `meta` variants (`total_da_pagina` on clientes/vendas;
`total_paginas` + `total_registros_pagina` on produtos); both are read. The next page is
`proxima_pagina`, else the `pagina` of `proxima_url` (relative to the host), else
`pagina_atual < total_paginas`. A server that sends us back to a page we already read, or an
empty page while its own totals say more records exist, would make a naive client loop or
stop early without noticing: both raise `ProtocolError` naming the request instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

from crmsync.providers.base import ProtocolError


def _int_or_none(meta: Mapping[str, Any], name: str, request: str) -> int | None:
    """Meta numbers may come as ints or numeric strings; anything else is a protocol error."""
    value = meta.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ProtocolError(f"meta.{name} tem tipo inesperado (booleano)", request=request)
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    raise ProtocolError(f"meta.{name} tem tipo inesperado ({type(value).__name__})", request=request)


@dataclass(frozen=True)
class PageMeta:
    """What one answer says about the listing, whatever `meta` variant it used."""

    current: int | None
    next_page: int | None
    total_records: int | None
    total_pages: int | None
    per_page: int | None
    on_page: int | None

    @classmethod
    def parse(cls, meta: Any, *, request: str, base_url: str = "") -> PageMeta:
        if meta is None:
            return cls(None, None, None, None, None, None)
        if not isinstance(meta, Mapping):
            raise ProtocolError(f"meta deveria ser um objeto, veio {type(meta).__name__}", request=request)
        current = _int_or_none(meta, "pagina_atual", request)
        total_pages = _int_or_none(meta, "total_paginas", request)
        next_page = _int_or_none(meta, "proxima_pagina", request)
        if next_page is None:
            url = meta.get("proxima_url")
            if isinstance(url, str) and url.strip():
                query = parse_qs(urlsplit(urljoin(base_url or "http://localhost/", url.strip())).query)
                values = query.get("pagina") or []
                if values and values[0].isdigit():
                    next_page = int(values[0])
            elif url not in (None, ""):
                raise ProtocolError("meta.proxima_url tem tipo inesperado", request=request)
        if next_page is None and "proxima_pagina" not in meta and current and total_pages and current < total_pages:
            next_page = current + 1
        on_page = _int_or_none(meta, "total_da_pagina", request)
        if on_page is None:
            on_page = _int_or_none(meta, "total_registros_pagina", request)
        return cls(
            current=current,
            next_page=next_page,
            total_records=_int_or_none(meta, "total_registros", request),
            total_pages=total_pages,
            per_page=_int_or_none(meta, "limite_por_pagina", request),
            on_page=on_page,
        )


def check_page(meta: PageMeta, *, requested: int, item_count: int, page_size: int, request: str) -> int | None:
    """Validate one answer on its own; return the next page number (None at the end)."""
    if meta.current is not None and meta.current != requested:
        raise ProtocolError(f"a API respondeu a página {meta.current} quando pedimos a {requested}", request=request)
    nxt = meta.next_page
    if nxt is not None and nxt <= requested:
        raise ProtocolError(f"paginação em laço: a página {requested} aponta para a página {nxt}", request=request)
    if item_count == 0:
        per_page = meta.per_page or page_size
        before = (requested - 1) * per_page
        if nxt is not None:
            raise ProtocolError(
                f"página {requested} vazia no meio da listagem (próxima página: {nxt})", request=request
            )
        if meta.total_records is not None and meta.total_records > before:
            raise ProtocolError(
                f"página {requested} vazia, mas o total informado é {meta.total_records} registros",
                request=request,
            )
    return nxt


@dataclass
class PageNumberPaginator:
    """Follows one listing page by page; refuses to read any page number twice."""

    start_page: int = 1
    page_size: int = 100
    seen: set[int] = field(default_factory=set)
    next_page: int | None = None

    def __post_init__(self) -> None:
        self.next_page = self.start_page

    @property
    def has_next(self) -> bool:
        return self.next_page is not None

    def update(self, page: int, next_page: int | None, *, request: str) -> None:
        """Record that `page` was read and where it points."""
        self.seen.add(page)
        if next_page is not None and next_page in self.seen:
            raise ProtocolError(f"paginação em laço: a página {next_page} já foi lida", request=request)
        self.next_page = next_page


def check_items(items: list[Any], *, page_size: int, request: str) -> None:
    """A page longer than the page size asked for, or holding one id twice, is not what the
    API documents: applying it would spend minutes on records that cannot all be right (a
    server repeating itself, or ignoring ``limite``), so the page is refused as a whole."""
    if len(items) > page_size:
        raise ProtocolError(f"página com {len(items)} itens, mais que os {page_size} pedidos", request=request)
    ids = [str(item.get("id")) for item in items if isinstance(item, dict) and item.get("id") not in (None, "")]
    if len(ids) != len(set(ids)):
        repeated = next(i for i in ids if ids.count(i) > 1)
        raise ProtocolError(f"página repete o id {repeated[:20]}", request=request)
