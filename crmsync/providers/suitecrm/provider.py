"""SuiteCRM 7/8 adapter (API V8, JSON:API), on the provider kit.

What the API gives us and what this class does about it (facts in
/work/shared/reference/suitecrm-api.md):

- OAuth2 client credentials (`auth.ClientCredentials`): a token per integration, fetched
  through the transport, shared by the machine's processes, renewed before it expires and
  once on a 401.
- JSON:API bodies: ``{"data": {"type", "id", "attributes"}}``; every error is a 400 with an
  ``errors`` object (or array) — an unknown id is a 400 "... is not found", read here as
  `NotFoundError`. HTML from a proxy, a body that is not JSON:API, a custom field the
  installation lacks: `ProtocolError`/`ValidationError` naming the request.
- A `cliente` is a Contact (PF) or an Account (PJ); external ids carry the module
  ("Contacts:<uuid>"). A cliente whose `tipo_pessoa` changes moves: it is created in the
  other module (after a look-up by its keys there, so a retry after a crash reuses it),
  the old record is deleted, and the new id is returned for the engine to relink.
- PATCH sends only the attributes that change (those the engine asks for, minus the ones
  already equal on the record as last read).
- Creates choose their UUID on the client, as SuiteCRM allows: a create whose answer was
  lost is looked up by that id before it is sent again, never duplicated, even without a
  unique key.
- A changed-since listing (``filter[date_modified][gte]``): stamps are cut to the minute,
  so the window starts at the minute of ``since`` (the engine already subtracts its overlap)
  and the engine drops what it already applied by version. Pages of that window are sorted
  by ``id``, not by ``date_modified``: ties on one stamp would otherwise repeat or skip
  records across page boundaries while records change.
- Deletes are not listed: they are inferred by the engine from a full listing (sorted by
  id, every module of the entity), which the scheduler runs periodically.
- No documented rate limit: the pace is configurable (`requisicoes_por_segundo`), and
  429/503 with ``Retry-After`` are honoured by the transport.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Generator, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, Unpack

import httpx
import structlog
from pydantic import BaseModel, ConfigDict, Field, field_validator

from crmsync.config import IntegrationConfig
from crmsync.mapping import normalize as n
from crmsync.matching import exact_value, ignored_keys
from crmsync.model.canonical import canonical_hash
from crmsync.providers.base import (
    AuthError,
    Capabilities,
    FatalError,
    NotFoundError,
    Page,
    ProtocolError,
    ProviderError,
    RateLimitedError,
    RemoteRecord,
    RetriableError,
    ValidationError,
)
from crmsync.providers.kit import HttpProvider, MappingFailure, PageAnswer, PageNumberPaginator, PageRequest, Paginator
from crmsync.providers.kit.canonical import canonical_or_fail
from crmsync.providers.suitecrm import answers, emails
from crmsync.providers.suitecrm import mapping as m
from crmsync.providers.suitecrm.auth import TOKEN_FILE, TOKEN_PATH, ClientCredentials, TokenStore
from crmsync.providers.transport import TransportError, TransportTuning, company_key, jitter
from crmsync.settings import Settings, get_settings

log = structlog.get_logger("crmsync.providers.suitecrm")

API = "/Api/V8"
JSON_API = "application/vnd.api+json"
# Combined page numbers of a listing over several modules (cliente = Contacts then
# Accounts): module i's page p is i * MODULE_PAGE_SPAN + p, so a checkpoint "page 1000004"
# resumes at Accounts page 5.
MODULE_PAGE_SPAN = 1_000_000
# Ids per page of the id scan (no attributes: a large page is still a small answer).
ID_PAGE_SIZE = 1000


class SuiteCrmOptions(BaseModel):
    """The SuiteCRM part of an integration's config (``opcoes_provedor``)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    campo_cpf: str = Field(default="cpf_c", alias="cpf_field")
    campo_cnpj: str = Field(default="cnpj_c", alias="cnpj_field")
    # No documented limit: a pace that keeps a self-hosted server comfortable (0 = none).
    requisicoes_por_segundo: float = Field(default=5.0, ge=0.0, le=1000.0, alias="requests_per_second")
    tamanho_pagina: int = Field(default=100, ge=1, le=1000, alias="page_size")

    @field_validator("campo_cpf", "campo_cnpj")
    @classmethod
    def _field_name(cls, v: str) -> str:
        v = v.strip()
        if not v.isidentifier():
            raise ValueError(f"'{v}' não é um nome de campo do SuiteCRM (ex.: cpf_c)")
        return v


def _token_store(settings: Settings) -> TokenStore | None:
    """The machine's shared token store, or None when it cannot be had (then tokens live in
    this process only). It uses the key the credentials are encrypted with, and never makes
    one: a provider opened without a configured key keeps its tokens in memory."""
    try:
        key = settings.secret_key
        if not key:
            key_file = settings.data_dir / ".crmsync_secret_key"
            if not key_file.is_file():
                return None
            key = key_file.read_text().strip()
        return TokenStore(settings.data_dir / TOKEN_FILE, key)
    except (OSError, ValueError):
        return None


def _credential(credentials: Mapping[str, str], name: str) -> str:
    value = credentials.get(name)
    if not value or not str(value).strip():
        raise AuthError(f"credencial ausente: informe '{name}'")
    return str(value).strip()


class SuiteCrmProvider(HttpProvider):
    """Provider for SuiteCRM (key "suitecrm").

    `credentials` holds ``client_id`` and ``client_secret`` of an OAuth2 client created by
    a SuiteCRM admin. `base_url` is the installation's root (``https://crm.example.com``;
    the API lives under ``/Api``). Options come from the config's ``opcoes_provedor``
    (`SuiteCrmOptions`); `rate_limit_per_second` overrides its pace (tests: None = none).
    """

    key = "suitecrm"
    display_name = "SuiteCRM"
    mapping_errors = (MappingFailure,)
    credential_fields = ("client_id", "client_secret")
    lists_changed_since = True  # as capabilities.changed_since_filter, readable without an instance
    daily_quota: int | None = None  # none (read from the class by the scheduler)
    quota_timezone: str | None = "UTC"

    @staticmethod
    def validate_options(options: Mapping[str, Any]) -> dict[str, Any]:
        """Validated ``opcoes_provedor`` in their stored form (pydantic errors name the key)."""
        return SuiteCrmOptions.model_validate(dict(options or {})).model_dump()

    def __init__(
        self,
        base_url: str,
        *,
        credentials: Mapping[str, str],
        config: IntegrationConfig | None = None,
        settings: Settings | None = None,
        run_id: str | None = None,
        rate_limit_per_second: float | str | None = "config",
        create_attempts: int = 3,
        **tuning: Unpack[TransportTuning],
    ) -> None:
        self.config = config or IntegrationConfig()
        self.options = SuiteCrmOptions.model_validate(dict(getattr(self.config, "opcoes_provedor", {}) or {}))
        self.settings = settings or get_settings()
        url = (base_url or "").strip().rstrip("/")
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"URL base inválida: {base_url!r} (use http(s)://host)")
        self.base_url = url
        self.client_id = _credential(credentials, "client_id")
        client_secret = _credential(credentials, "client_secret")
        # Tokens are fetched through the transport (pace, deadline, size cap) and shared by the
        # machine's processes until shortly before they expire, encrypted like the credentials.
        self._auth = ClientCredentials(url, self.client_id, client_secret, store=_token_store(self.settings))
        self.mapping = m.SuiteMapping(self.options.campo_cpf, self.options.campo_cnpj)
        self._ignored = ignored_keys(self.config.chaves_ignoradas)
        pace = self.options.requisicoes_por_segundo if rate_limit_per_second == "config" else rate_limit_per_second
        pace_value = float(pace) if isinstance(pace, (int, float)) and pace else None
        self.page_size = self.options.tamanho_pagina
        self.capabilities = Capabilities(
            page_size=self.page_size,
            sort_by_modification=False,
            changed_since_filter=True,
            webhooks=False,
            rate_limit_per_second=pace_value or 0.0,
            daily_quota=None,
            timezone="UTC",
            entities=("cliente", "produto"),
        )
        self.open_transport(
            url,
            budget_key=company_key(url, self.client_id),
            settings=self.settings,
            rate_limit_per_second=pace_value,
            daily_quota=None,
            timezone="UTC",
            run_id=run_id,
            **tuning,
        )
        self.create_attempts = max(1, create_attempts)
        self._log = log.bind(run_id=run_id) if run_id else log
        self._checked_custom: set[str] = set()

    # ------------------------------------------------------------------ kit override points

    def auth_headers(self) -> dict[str, str]:
        return {"Content-Type": JSON_API, "Accept": JSON_API}

    def request_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._auth.token(self._post_token_form)}"}

    def renew_auth(self, used: Mapping[str, str]) -> bool:
        self._auth.forget(used.get("Authorization", "").removeprefix("Bearer "))
        return True  # (revoked, server restarted, clock skew): one new token, one more try

    def _post_token_form(self, form: Mapping[str, str]) -> httpx.Response:
        return self.transport.request(
            "POST",
            TOKEN_PATH,
            form=form,
            headers={"Accept": "application/json", "Content-Type": "application/x-www-form-urlencoded"},
            idempotent=False,
        )

    def list_path(self, entity_type: str) -> str:
        return f"{API}/module/{self._modules(entity_type)[0]}"

    def _module_params(self, module: str) -> dict[str, Any]:
        return {
            "page[size]": self.page_size,
            "sort": "id",
            f"fields[{module}]": ",".join(self.mapping.attributes(module)),
        }

    def get_paginator(self, entity_type: str, start_page: int) -> Paginator:
        return PageNumberPaginator(start_page=start_page, page_param="page[number]", page_size=self.page_size)

    def parse_page(self, entity_type: str, response: httpx.Response, request: PageRequest, desc: str) -> PageAnswer:
        body = self._document(response, desc)
        data = body.get("data")
        if not isinstance(data, list):
            raise ProtocolError(f"data deveria ser uma lista, veio {type(data).__name__}", request=desc)
        meta = body.get("meta")
        total_pages: int | None = None
        if isinstance(meta, Mapping) and meta.get("total-pages") is not None:
            raw_total = meta.get("total-pages")
            if isinstance(raw_total, bool) or not str(raw_total).strip().isdigit():
                raise ProtocolError(f"meta.total-pages com tipo inesperado: {raw_total!r}", request=desc)
            total_pages = int(str(raw_total).strip())
        elif data:
            raise ProtocolError("listagem paginada sem meta.total-pages", request=desc)
        page = request.page
        nxt = page + 1 if total_pages is not None and page < total_pages and data else None
        size = request.params.get("page[size]", self.page_size)
        page_size = int(size) if isinstance(size, int) or str(size).isdigit() else self.page_size
        if data and self._needs_custom_check(request.path):
            self._check_custom_fields(request.path, data, desc)
        return PageAnswer(
            page=page, items=data, next_page=nxt, request=desc, total_pages=total_pages, page_size=page_size
        )

    def map_in(self, entity_type: str, raw: Mapping[str, Any]) -> RemoteRecord:
        module = m.module_from_type(raw.get("type"))
        bean_id = raw.get("id")
        if module is None or module not in m.MODULES.get(entity_type, ()):
            raise MappingFailure(f"tipo inesperado no registro: {raw.get('type')!r}", {"type": "inesperado"})
        if not isinstance(bean_id, str) or not bean_id:
            raise MappingFailure("registro sem id", {"id": "ausente"})
        attributes = raw.get("attributes")
        if not isinstance(attributes, Mapping):
            raise MappingFailure("registro sem attributes", {"attributes": "ausente"})
        data = self.mapping.to_canonical(module, attributes)
        return RemoteRecord(
            external_id=m.external_id(module, bean_id),
            data=data,
            modified_at=m.parse_stamp(attributes.get("date_modified")),
            version=canonical_hash(data),
            raw={"type": module, "id": bean_id, "attributes": dict(attributes)},
        )

    def raw_id(self, raw: Mapping[str, Any]) -> str | None:
        module = m.module_from_type(raw.get("type"))
        bean_id = raw.get("id")
        if module is None or not isinstance(bean_id, str) or not bean_id:
            return None
        return m.external_id(module, bean_id)

    def map_out(self, entity_type: str, data: Mapping[str, Any], current: Mapping[str, Any] | None) -> dict[str, Any]:
        module = m.module_of(entity_type, {**(current or {}), **data})
        return self.mapping.to_attributes(module, data)

    def classify_error(self, response: httpx.Response, desc: str) -> ProviderError | None:
        return answers.classify(response, desc, (self.options.campo_cpf, self.options.campo_cnpj))

    def _document(self, response: httpx.Response, desc: str) -> Mapping[str, Any]:
        return answers.document(response, desc)

    def _needs_custom_check(self, path: str) -> bool:
        module = path.rstrip("/").rsplit("/", 1)[-1]
        return bool(self.mapping.custom_fields(module)) and module not in self._checked_custom

    def _check_custom_fields(self, path: str, data: list[Any], desc: str) -> None:
        """A configured CPF/CNPJ field the installation lacks would read every record as
        having none (and match nothing): say so once, naming the request."""
        module = path.rstrip("/").rsplit("/", 1)[-1]
        first = next((item for item in data if isinstance(item, Mapping)), None)
        attributes = first.get("attributes") if first is not None else None
        if not isinstance(attributes, Mapping):
            return
        for name in self.mapping.custom_fields(module):
            if name not in attributes:
                raise ProtocolError(
                    f"o campo personalizado '{name}' não existe no módulo {module} desta instalação do "
                    "SuiteCRM: crie-o ou ajuste opcoes_provedor (campo_cpf/campo_cnpj)",
                    request=desc,
                )
        self._checked_custom.add(module)

    def _record_from(self, entity_type: str, body: Mapping[str, Any], desc: str) -> RemoteRecord:
        data = body.get("data")
        if not isinstance(data, Mapping):
            raise ProtocolError(f"data deveria ser um objeto, veio {type(data).__name__}", request=desc)
        try:
            return self.map_in(entity_type, data)
        except MappingFailure as exc:
            raise FatalError(f"registro do SuiteCRM não pôde ser lido: {exc}", request=desc) from None

    # ------------------------------------------------------------------ listing

    @staticmethod
    def _modules(entity_type: str) -> tuple[str, ...]:
        try:
            return m.MODULES[entity_type]
        except KeyError:
            raise ValueError(
                f"entidade não suportada pelo SuiteCRM: '{entity_type}' (use cliente ou produto)"
            ) from None

    def _iter_modules(self, entity_type: str, params_of: Any, start_page: int) -> Generator[Page, None, None]:
        """Pages of every module of the entity, numbered across modules (MODULE_PAGE_SPAN)."""
        modules = self._modules(entity_type)
        first_index, first_page = divmod(max(1, start_page), MODULE_PAGE_SPAN)
        if first_page == 0:
            first_index, first_page = first_index - 1, MODULE_PAGE_SPAN
        for index in range(first_index, len(modules)):
            module = modules[index]
            start = first_page if index == first_index else 1
            offset = index * MODULE_PAGE_SPAN
            path = f"{API}/module/{module}"
            for page, answer in self.paginate(entity_type, path, params_of(module), start):
                page.page = offset + answer.page
                if answer.next_page is not None:
                    page.next_page = offset + answer.next_page
                elif index + 1 < len(modules):
                    page.next_page = (index + 1) * MODULE_PAGE_SPAN + 1
                else:
                    page.next_page = None
                yield page

    def list_page(self, entity_type: str, page: int = 1, *, newest_first: bool = False) -> Page:
        pages = self._iter_modules(entity_type, self._module_params, page)
        try:
            return next(pages)
        finally:
            pages.close()

    def iter_pages(self, entity_type: str, start_page: int = 1, *, newest_first: bool = False) -> Iterator[Page]:
        """The full listing, sorted by id (stable while records change): what deletes are
        inferred from. `newest_first` is not offered (the changed-since listing is better)."""
        yield from self._iter_modules(entity_type, self._module_params, start_page)

    def get_changed_params(self, entity_type: str, since: datetime) -> dict[str, Any]:
        raise NotImplementedError  # per module: see iter_changed

    def iter_changed(self, entity_type: str, since: datetime) -> Generator[Page, None, None]:
        """Records modified at or after the minute of `since` (``gte``: a ``gt`` on minute
        stamps skips edits made later in the same minute), by id within the window."""
        moment = since.astimezone(UTC).replace(second=0, microsecond=0)
        stamp = moment.isoformat()

        def params(module: str) -> dict[str, Any]:
            return {**self._module_params(module), "filter[date_modified][gte]": stamp}

        yield from self._iter_modules(entity_type, params, 1)

    def iter_ids(self, entity_type: str) -> Generator[list[str], None, None]:
        """Ids of every live record, ``fields[Module]=id`` (attributes come back empty) in
        pages of `ID_PAGE_SIZE`: the scan deletes are inferred from, ~1 request per 1,000."""
        for module in self._modules(entity_type):
            path = f"{API}/module/{module}"
            params = {"page[size]": ID_PAGE_SIZE, "sort": "id", f"fields[{module}]": "id"}
            paginator = PageNumberPaginator(page_param="page[number]", page_size=ID_PAGE_SIZE)
            for answer in self.iter_answers(entity_type, path, params, paginator):
                ids = [item.get("id") for item in answer.items if isinstance(item, Mapping)]
                if len(ids) != len(answer.items) or not all(isinstance(i, str) and i for i in ids):
                    raise ProtocolError("item sem id na listagem de ids", request=answer.request)
                yield [m.external_id(module, str(i)) for i in ids]

    # ------------------------------------------------------------------ reading one

    def get(self, entity_type: str, external_id: str) -> RemoteRecord:
        module, bean_id = self._split(entity_type, external_id)
        response, desc = self.send("GET", f"{API}/module/{module}/{bean_id}")
        record = self._record_from(entity_type, self._document(response, desc), desc)
        if record.external_id != f"{module}:{bean_id}":
            # The answer is another module's record (or another id): never take it for ours.
            raise ProtocolError(
                f"o registro mudou de módulo ou de id: pedimos {module}:{bean_id}, veio {record.external_id}",
                request=desc,
            )
        return record

    def _split(self, entity_type: str, external_id: str) -> tuple[str, str]:
        try:
            return m.split_external_id(entity_type, external_id)
        except ValueError as exc:
            raise ValidationError(str(exc), fields={"external_id": "inválido"}) from None

    def find_by_keys(self, entity_type: str, data: Mapping[str, Any]) -> RemoteRecord | None:
        """A record by its unique keys (CPF, CNPJ, e-mail; produto code), exact matches only,
        in the module(s) the entity lives in; the first by id when several."""
        return self._find(entity_type, data, None)

    def _find(self, entity_type: str, data: Mapping[str, Any], only: str | None) -> RemoteRecord | None:
        for module, attribute, values, matches in self._key_queries(entity_type, data):
            if only is not None and module != only:
                continue
            for value in values:
                params = {
                    f"filter[{attribute}][eq]": value,
                    "page[size]": 20,
                    "page[number]": 1,
                    "sort": "id",
                    f"fields[{module}]": ",".join(self.mapping.attributes(module)),
                }
                try:
                    response, desc = self.send("GET", f"{API}/module/{module}", params=params)
                except ValidationError:
                    continue  # a field this installation cannot filter on: the next key decides
                body = self._document(response, desc)
                raw_items = body.get("data")
                items = raw_items if isinstance(raw_items, list) else []
                found = [
                    item
                    for item in items
                    if isinstance(item, Mapping)
                    and isinstance(item.get("attributes"), Mapping)
                    and matches(item["attributes"])
                ]
                if found:
                    return self._record_from(entity_type, {"data": found[0]}, desc)
        return None

    def _key_queries(self, entity_type: str, data: Mapping[str, Any]) -> list[tuple[str, str, list[str], Any]]:
        queries: list[tuple[str, str, list[str], Any]] = []
        if entity_type == "cliente":
            preferred = m.module_of(entity_type, data)
            others = [mod for mod in m.MODULES["cliente"] if mod != preferred]
            # A CPF lives on Contacts, a CNPJ on Accounts, each in its custom field, stored
            # formatted or not: both spellings are asked, the digits decide.
            documents = (
                ("cpf", m.CONTACTS, self.options.campo_cpf, n.format_cpf),
                ("cnpj", m.ACCOUNTS, self.options.campo_cnpj, n.format_cnpj),
            )
            for key, module, field, shown in documents:
                doc = exact_value(key, n.digits(data.get(key)), self._ignored)
                if doc:
                    same = lambda a, d=doc, f=field: n.digits(a.get(f)) == d  # noqa: E731
                    queries.append((module, field, [shown(doc) or doc, doc], same))
            email = exact_value("email", data.get("email"), self._ignored)
            if email:
                for module in (preferred, *others):
                    queries.append(
                        (module, "email1", [email], lambda a, e=email: str(a.get("email1") or "").strip().lower() == e)
                    )
        elif entity_type == "produto":
            codigo = exact_value("codigo", data.get("codigo"), self._ignored)
            if codigo:
                queries.append(
                    (
                        m.PRODUCTS,
                        "part_number",
                        [codigo],
                        lambda a, c=codigo: str(a.get("part_number") or "").strip() == c,
                    )
                )
        else:
            self._modules(entity_type)
        return queries

    # ------------------------------------------------------------------ writing

    def _map_out(self, module: str, data: Mapping[str, Any]) -> dict[str, str]:
        try:
            return self.mapping.to_attributes(module, data)
        except ValueError as exc:
            raise ValidationError(str(exc)) from None

    def create(self, entity_type: str, data: Mapping[str, Any]) -> RemoteRecord:
        self._modules(entity_type)
        # Refused here, with the field named, not half-stored there.
        canonical_or_fail(
            entity_type,
            data,
            lambda msg, fields: ValidationError(msg, fields=fields),
            partial=False,
            what="registro inválido para o SuiteCRM",
        )
        module = m.module_of(entity_type, data)
        return self._create_in(entity_type, module, self._map_out(module, data))

    def _create_in(self, entity_type: str, module: str, attributes: dict[str, str]) -> RemoteRecord:
        """POST with an id chosen here: when the answer is lost, that id says whether the
        create happened (GET it) before it is sent again, so a retry never duplicates."""
        bean_id = str(uuid.uuid4())
        body = {"data": {"type": module, "id": bean_id, "attributes": attributes}}
        last: RetriableError | None = None
        for attempt in range(1, self.create_attempts + 1):
            try:
                response, desc = self.send("POST", f"{API}/module", body=body, idempotent=False)
                return self._record_from(entity_type, self._document(response, desc), desc)
            except RateLimitedError:
                raise  # refused before any work (the transport already waited and retried)
            except RetriableError as exc:
                last = exc
                self.log_lost_create(entity_type, attempt, exc)
                if isinstance(exc, TransportError) and not exc.request_sent:
                    continue
                if isinstance(exc, TransportError) and exc.timed_out:
                    time.sleep(min(2.0, self.transport.timeout.read or 1.0))  # a slow server may still be writing
                try:
                    return self.get(entity_type, m.external_id(module, bean_id))
                except NotFoundError:
                    pass  # it did not happen: send it again, same id
                if attempt < self.create_attempts:
                    time.sleep(jitter(0.2 * attempt))
            except ValidationError as exc:
                if attempt > 1 and "already exist" in str(exc):
                    return self.get(entity_type, m.external_id(module, bean_id))  # an earlier try did it
                raise
        assert last is not None
        raise last

    def update(
        self, entity_type: str, external_id: str, data: Mapping[str, Any], current: RemoteRecord | None = None
    ) -> RemoteRecord:
        module, bean_id = self._split(entity_type, external_id)
        if entity_type == "cliente" and "tipo_pessoa" in data and m.module_of(entity_type, data) != module:
            return self._move(entity_type, module, bean_id, data, current)
        attributes = self._map_out(module, data)
        if current is not None and current.raw.get("attributes"):
            held = current.raw["attributes"]
            attributes = {k: v for k, v in attributes.items() if str(held.get(k, "")) != v or k not in held}
        if not attributes:
            return current if current is not None else self.get(entity_type, external_id)
        if "email1" in attributes:
            return self._update_email(entity_type, module, bean_id, attributes, current)
        body = {"data": {"type": module, "id": bean_id, "attributes": attributes}}
        response, desc = self.send("PATCH", f"{API}/module", body=body)
        return self._record_from(entity_type, self._document(response, desc), desc)

    def _update_email(
        self, entity_type: str, module: str, bean_id: str, attributes: dict[str, str], current: RemoteRecord | None
    ) -> RemoteRecord:
        """SuiteCRM ignores a PATCH of ``email1`` on a record that has an address: the change
        goes through the EmailAddresses relationship (`emails`). A record without one takes
        the plain PATCH, as a create does."""
        if current is None or current.external_id != m.external_id(module, bean_id):
            current = self.get(entity_type, m.external_id(module, bean_id))
        old = str(current.raw.get("attributes", {}).get("email1") or "")
        if not old.strip():
            body = {"data": {"type": module, "id": bean_id, "attributes": attributes}}
            response, desc = self.send("PATCH", f"{API}/module", body=body)
            record = self._record_from(entity_type, self._document(response, desc), desc)
            stored = record.raw.get("attributes", {}).get("email1")
            if emails.same_address(stored, attributes["email1"]):
                return record
            old = str(stored or "")  # it had one after all (edited meanwhile): the relationship way
        response, desc = emails.replace_primary(self.send, self._document, module, bean_id, attributes, old)
        return self._record_from(entity_type, self._document(response, desc), desc)

    def _move(
        self, entity_type: str, module: str, bean_id: str, data: Mapping[str, Any], current: RemoteRecord | None
    ) -> RemoteRecord:
        """A person turned company (or back): the record moves to the other module. Looked
        up there by its keys first, so a retry after a crash between the create and the
        delete reuses what the first try made instead of making a twin."""
        old_id = m.external_id(module, bean_id)
        if current is None or current.external_id != old_id:
            current = self.get(entity_type, old_id)
        merged = {**current.data, **data}
        target = m.module_of(entity_type, merged)
        found = self._find(entity_type, merged, target)
        if found is not None:
            moved = self.update(entity_type, found.external_id, merged, found)
        else:
            moved = self._create_in(entity_type, target, self._map_out(target, merged))
        self.delete(entity_type, old_id)
        self._log.info("record_moved", entity=entity_type, old=old_id, new=moved.external_id)
        return moved

    def delete(self, entity_type: str, external_id: str) -> None:
        module, bean_id = self._split(entity_type, external_id)
        try:
            self.send("DELETE", f"{API}/module/{module}/{bean_id}")
        except NotFoundError:
            return  # already gone (an earlier try whose answer was lost, or deleted in SuiteCRM)

    def deactivate(self, entity_type: str, external_id: str) -> RemoteRecord:
        """SuiteCRM has no "active" flag on these modules; its delete is itself a soft delete
        (``deleted=1``, restorable by an admin), so deactivating deletes and answers the record
        as last read, marked inactive."""
        record = self.get(entity_type, external_id)
        self.delete(entity_type, external_id)
        data = {**record.data, "ativo": False}
        return RemoteRecord(
            external_id=record.external_id,
            data=data,
            modified_at=datetime.now(UTC),
            version=canonical_hash(data),
            raw=record.raw,
        )

    def check_access(self) -> None:
        """One cheap authenticated request (a token, then one id of one Contact): what
        `integration add` and `set-connection` ask before storing credentials."""
        self.send("GET", f"{API}/module/{m.CONTACTS}", params={"page[size]": 1, f"fields[{m.CONTACTS}]": "id"})

    # ------------------------------------------------------------------ figures

    @property
    def tokens_fetched(self) -> int:
        return self._auth.tokens_fetched
