"""Paginators: one small object per listing that reads each answer and shapes the next request.

The protocol is dlt's (``dlt/sources/helpers/rest_client/paginators.py``), two methods:

* ``update_state(answer)`` reads what one answer says about the listing (its page number,
  the next page it points to, the totals) and decides whether there is a next page;
* ``update_request(request)`` writes the next page into the request about to be sent.

A realistic exchange with `PageNumberPaginator(page_param="page[number]")`::

    GET /Api/V8/module/Contacts?page[number]=2&page[size]=100&sort=id
    {"meta": {"total-pages": 3}, "data": [...100 records...]}
    -> update_state(PageAnswer(page=2, item_count=100, next_page=3, total_pages=3))
    -> update_request(request): request.page = 3, request.params["page[number]"] = 3

The answer is parsed by the provider first (``HttpProvider.parse_page``), so a paginator never
sees JSON: it sees a `PageAnswer`. Like the Meltano SDK's paginators it guards against
servers that would make a naive client loop: a page number read twice, a next page that
goes backwards, an empty page while the server's own totals say more records exist — each a
`ProtocolError` naming the request, never an endless listing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from crmsync.providers.base import ProtocolError

__all__ = ["PageAnswer", "PageNumberPaginator", "PageRequest", "Paginator"]


@dataclass
class PageRequest:
    """The request for one page: the listing's path, its query, and which page it asks for."""

    path: str
    params: dict[str, Any] = field(default_factory=dict)
    page: int = 1


@dataclass
class PageAnswer:
    """What one listing answer says, already parsed by the provider.

    `items` are the raw records (provider JSON), `next_page` the page the answer points to
    (None: the last page), `total_records`/`total_pages` the server's totals when it sends
    them, `request` the description used in errors ("GET /clientes?pagina=3").
    """

    page: int
    items: list[Any]
    next_page: int | None
    request: str
    total_records: int | None = None
    total_pages: int | None = None
    page_size: int | None = None


@runtime_checkable
class Paginator(Protocol):
    """dlt's two-method paginator protocol, plus whether another page is due."""

    @property
    def has_next_page(self) -> bool: ...

    def update_state(self, answer: PageAnswer) -> None:
        """Read one answer: where the listing goes next, or that it ended."""
        ...

    def update_request(self, request: PageRequest) -> None:
        """Point `request` at the next page."""
        ...


@dataclass
class PageNumberPaginator:
    """Numbered pages (GestãoClick's ``pagina``, SuiteCRM's ``page[number]``).

    Follows the answer's `next_page`; refuses to read a page number twice or to go
    backwards, and an empty page while the totals promise more records.
    """

    start_page: int = 1
    page_param: str = "pagina"
    page_size: int = 100
    page: int = 0
    seen: set[int] = field(default_factory=set)
    _has_next: bool = True

    def __post_init__(self) -> None:
        self.page = self.start_page

    @property
    def has_next_page(self) -> bool:
        return self._has_next

    def update_request(self, request: PageRequest) -> None:
        request.page = self.page
        request.params[self.page_param] = self.page

    def update_state(self, answer: PageAnswer) -> None:
        requested = answer.page
        self.seen.add(requested)
        nxt = answer.next_page
        if nxt is not None and nxt <= requested:
            raise ProtocolError(
                f"paginação em laço: a página {requested} aponta para a página {nxt}", request=answer.request
            )
        if nxt is not None and nxt in self.seen:
            raise ProtocolError(f"paginação em laço: a página {nxt} já foi lida", request=answer.request)
        if not answer.items:
            if nxt is not None:
                raise ProtocolError(
                    f"página {requested} vazia no meio da listagem (próxima página: {nxt})", request=answer.request
                )
            per_page = answer.page_size or self.page_size
            if answer.total_records is not None and answer.total_records > (requested - 1) * per_page:
                raise ProtocolError(
                    f"página {requested} vazia, mas o total informado é {answer.total_records} registros",
                    request=answer.request,
                )
        self._has_next = nxt is not None
        if nxt is not None:
            self.page = nxt
