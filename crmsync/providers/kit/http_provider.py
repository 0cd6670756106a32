"""`HttpProvider`: what every HTTP provider shares, with named override points.

Shaped like the Meltano SDK's ``RESTStream`` (``singer_sdk/streams/rest.py``): the base owns
the loop (send, check, parse, paginate, map) and a provider fills in the parts that differ
between APIs. The override points, each a method with one job:

==========================  ==============================================================
``auth_headers()``          headers every request carries (static tokens); OAuth2 flows
                            plug an ``httpx.Auth`` in through ``auth()`` instead
``auth()``                  an ``httpx.Auth`` that signs each request (None: headers only)
``list_path(entity)``       where an entity is listed ("clientes", "/Api/V8/module/Contacts")
``get_url_params(...)``     the query for one page of a listing (size, order, filters);
                            the paginator adds the page itself
``get_paginator(...)``      the paginator (``kit.paginators``, dlt's two-method protocol)
``parse_page(...)``         one listing answer -> ``PageAnswer`` (raw items, next page, totals)
``map_in(entity, raw)``     raw record -> ``RemoteRecord`` (canonical data, id, stamp, version)
``map_out(entity, ...)``    canonical data -> the API's body
``classify_error(...)``     an HTTP answer -> the error it means (retriable or fatal), or None
``find_by_keys(...)``       a record by its unique keys (used after a create's answer is lost)
==========================  ==============================================================

What the base does for every provider: one `Transport` per integration (pacing, daily quota,
retries with backoff, ``Retry-After``), requests described without secrets
("GET /clientes?pagina=3"), a listing that never loops (the paginator's guards), items that
cannot be mapped reported per item instead of failing the page, and the lifecycle
(``stats``, ``requests_used_today``, ``close``, context manager).

Providers whose API can list "what changed since" set ``capabilities.changed_since_filter``
and implement ``get_changed_params``; the base then offers ``iter_changed`` (see
``crmsync.providers.base.ChangedSinceListing``).
"""

from __future__ import annotations

from collections.abc import Generator, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar, TypedDict, Unpack

import httpx

from crmsync.providers.base import Capabilities, Page, ProviderError, RemoteRecord, RetriableError
from crmsync.providers.kit.paginators import PageAnswer, PageNumberPaginator, PageRequest, Paginator
from crmsync.providers.transport import Transport, TransportTuning, describe_request
from crmsync.settings import Settings

__all__ = ["HttpProvider", "MappingFailure", "SendOptions"]


class MappingFailure(ValueError):
    """A raw record that cannot be read as canonical data (raised by ``map_in``): reported
    as a failed item of its page, never as a failed page."""

    def __init__(self, message: str, fields: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.fields = dict(fields or {})


class SendOptions(TypedDict, total=False):
    """What a request carries besides its method and path, as `HttpProvider.send` takes it
    and wrappers over it (a provider's own client) pass it on: the query (None values
    dropped), a JSON body, and whether it may be sent again (None: as its method says)."""

    params: Mapping[str, Any] | None
    body: Any
    idempotent: bool | None


class HttpProvider:
    """Base of the HTTP providers. Subclasses set `key`, `display_name`, `capabilities` and
    fill in the override points; `open_transport` is called once from their ``__init__``."""

    key: ClassVar[str] = ""
    display_name: ClassVar[str] = ""
    capabilities: Capabilities
    transport: Transport
    _log: Any  # the provider's structlog logger, bound to the run

    # ------------------------------------------------------------------ construction

    def open_transport(
        self,
        base_url: str,
        *,
        budget_key: str,
        settings: Settings,
        rate_limit_per_second: float | None,
        daily_quota: int | None,
        timezone: str,
        run_id: str | None = None,
        **tuning: Unpack[TransportTuning],
    ) -> Transport:
        """The integration's transport, signed with ``auth_headers()`` and ``auth()``; `tuning`
        is what the provider's constructor took and passes on unread."""
        self.transport = Transport(
            base_url,
            headers=self.auth_headers(),
            auth=self.auth(),
            budget_key=budget_key,
            rate_limit_per_second=rate_limit_per_second,
            daily_quota=daily_quota,
            timezone=timezone,
            settings=settings,
            run_id=run_id,
            **tuning,
        )
        return self.transport

    # ------------------------------------------------------------------ override points

    def auth_headers(self) -> dict[str, str]:
        """Headers sent with every request (content type, static API tokens)."""
        return {}

    def auth(self) -> httpx.Auth | None:
        """An ``httpx.Auth`` for flows that fetch and renew a token (OAuth2); None by default."""
        return None

    def request_headers(self) -> dict[str, str]:
        """Headers of each request that change over time (a bearer token fetched through the
        transport, so it keeps the pace, the deadline and the size cap); {} by default."""
        return {}

    def renew_auth(self, used: Mapping[str, str]) -> bool:
        """A 401 answered a request sent with `used`: forget that token and say whether the
        request is worth sending once more with a new one (False by default)."""
        return False

    def list_path(self, entity_type: str) -> str:
        raise NotImplementedError

    def get_url_params(self, entity_type: str, *, newest_first: bool = False) -> dict[str, Any]:
        """The query of a full listing's pages, without the page number."""
        return {}

    def get_changed_params(self, entity_type: str, since: datetime) -> dict[str, Any]:
        """The query of a changed-since listing's pages (providers with the capability)."""
        raise NotImplementedError(f"{self.display_name or self.key} não lista alterações desde um instante")

    def get_paginator(self, entity_type: str, start_page: int) -> Paginator:
        return PageNumberPaginator(start_page=start_page, page_size=self.capabilities.page_size)

    def parse_page(self, entity_type: str, response: httpx.Response, request: PageRequest, desc: str) -> PageAnswer:
        raise NotImplementedError

    def map_in(self, entity_type: str, raw: Mapping[str, Any]) -> RemoteRecord:
        """Raises `MappingFailure` (or a subclass's own mapping error listed in
        ``mapping_errors``) when the record cannot be read."""
        raise NotImplementedError

    def map_out(self, entity_type: str, data: Mapping[str, Any], current: Mapping[str, Any] | None) -> dict[str, Any]:
        raise NotImplementedError

    def classify_error(self, response: httpx.Response, desc: str) -> ProviderError | None:
        """The error an answer means, None when it is a success. 429/5xx/timeouts never get
        here: the transport retries them and raises its own retriable errors."""
        return None

    # Exception types `map_in` raises for one unreadable record (reported per item).
    mapping_errors: ClassVar[tuple[type[Exception], ...]] = (MappingFailure,)

    # ------------------------------------------------------------------ sending

    def send(self, method: str, path: str, **options: Unpack[SendOptions]) -> tuple[httpx.Response, str]:
        """One request through the transport, checked by ``classify_error``; returns the
        answer and its description for messages."""
        path = "/" + path.lstrip("/")
        clean = {k: v for k, v in (options.get("params") or {}).items() if v is not None}
        body, idempotent = options.get("body"), options.get("idempotent")
        desc = describe_request(method, path, clean)
        headers = self.request_headers()
        response = self.transport.request(method, path, params=clean, json=body, idempotent=idempotent, headers=headers)
        if response.status_code == 401 and headers and self.renew_auth(headers):
            response = self.transport.request(
                method, path, params=clean, json=body, idempotent=idempotent, headers=self.request_headers()
            )
        error = self.classify_error(response, desc)
        if error is not None:
            raise error
        return response, desc

    def log_lost_create(self, entity_type: str, attempt: int, exc: RetriableError) -> None:
        """A create's answer was lost (it may have happened): logged alike by every provider,
        before the look-up that decides whether to send it again."""
        self._log.warning(
            "create_outcome_unknown", entity=entity_type, attempt=attempt, request=exc.request, error=type(exc).__name__
        )

    # ------------------------------------------------------------------ listing

    def read_page(self, entity_type: str, request: PageRequest) -> tuple[Page, PageAnswer]:
        """Send one page request, parse it and map its items; unreadable items become the
        page's `errors` (external id or "?", message naming the request)."""
        fetched_at = datetime.now(UTC)
        answer = self.read_answer(entity_type, request)
        desc = answer.request
        records: list[RemoteRecord] = []
        errors: list[tuple[str, str]] = []
        for item in answer.items:
            if not isinstance(item, Mapping):
                errors.append(("?", f"item com tipo inesperado ({type(item).__name__}) [{desc}]"))
                continue
            try:
                records.append(self.map_in(entity_type, item))
            except self.mapping_errors as exc:
                ext = self.raw_id(item)
                errors.append((ext or "?", f"{exc} [{desc}]"))
        page = Page(
            records=records,
            page=answer.page,
            next_page=answer.next_page,
            total=answer.total_records,
            errors=errors,
            fetched_at=fetched_at,
        )
        return page, answer

    def read_answer(self, entity_type: str, request: PageRequest) -> PageAnswer:
        """Send one page request and parse it, without mapping its items."""
        response, desc = self.send("GET", request.path, params=request.params)
        return self.parse_page(entity_type, response, request, desc)

    def iter_answers(
        self, entity_type: str, path: str, params: Mapping[str, Any], paginator: Paginator
    ) -> Iterator[PageAnswer]:
        """Every page of one listing as raw answers (an id scan that maps nothing), driven by
        `paginator` with the same guards as `paginate`."""
        while paginator.has_next_page:
            answer = self.read_answer(entity_type, self._page_request(path, params, paginator))
            paginator.update_state(answer)
            yield answer

    def raw_id(self, raw: Mapping[str, Any]) -> str | None:
        """The external id of a raw record, for error reports (may differ from the id the
        provider gives `RemoteRecord`, e.g. a module prefix)."""
        ext = raw.get("id")
        return None if ext in (None, "") or isinstance(ext, (dict, list, bool)) else str(ext)

    def _page_request(self, path: str, params: Mapping[str, Any], paginator: Paginator) -> PageRequest:
        """The next page's request: the paginator's part first (it reads better in logs:
        "GET /clientes?pagina=3&limite=100"), then the listing's own query."""
        request = PageRequest(path=path)
        paginator.update_request(request)
        for name, value in params.items():
            request.params.setdefault(name, value)
        return request

    def paginate(
        self, entity_type: str, path: str, params: Mapping[str, Any], start_page: int = 1
    ) -> Iterator[tuple[Page, PageAnswer]]:
        """Every page of one listing from `start_page`, driven by the paginator."""
        paginator = self.get_paginator(entity_type, start_page)
        while paginator.has_next_page:
            request = self._page_request(path, params, paginator)
            page, answer = self.read_page(entity_type, request)
            paginator.update_state(answer)
            yield page, answer

    def list_page(self, entity_type: str, page: int = 1, *, newest_first: bool = False) -> Page:
        params = self.get_url_params(entity_type, newest_first=newest_first)
        request = self._page_request(self.list_path(entity_type), params, self.get_paginator(entity_type, page))
        return self.read_page(entity_type, request)[0]

    def iter_pages(self, entity_type: str, start_page: int = 1, *, newest_first: bool = False) -> Iterator[Page]:
        params = self.get_url_params(entity_type, newest_first=newest_first)
        for page, _answer in self.paginate(entity_type, self.list_path(entity_type), params, start_page):
            yield page

    def iter_changed(self, entity_type: str, since: datetime) -> Generator[Page, None, None]:
        """Pages of the records changed at or after `since` (may repeat some already seen)."""
        if not self.capabilities.changed_since_filter:
            raise NotImplementedError(f"{self.display_name or self.key} não lista alterações desde um instante")
        params = self.get_changed_params(entity_type, since)
        for page, _answer in self.paginate(entity_type, self.list_path(entity_type), params):
            yield page

    # ------------------------------------------------------------------ lifecycle

    def requests_used_today(self) -> int | None:
        return self.transport.requests_used_today()

    def stats(self) -> dict[str, Any]:
        return self.transport.stats()

    def add_stats(self, stats: Mapping[str, Any]) -> None:
        """Count in the requests of another process listing for this provider."""
        self.transport.add_stats(stats)

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> HttpProvider:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
