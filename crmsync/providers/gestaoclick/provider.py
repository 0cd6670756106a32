"""GestãoClick adapter: the Provider protocol over the client, the mapping and the paginator.

What the real service gives us, and what this class does about it (see
docs in /work/shared/reference/gestaoclick-api.md):

- 3 requests/s and 30,000/day per company, shared with the company's other apps: every
  call goes through one `Transport` whose pacing and daily counter live in a store all our
  processes share (key = hash of the company's token pair).
- No changed-since filter and no webhooks: the engine scans pages of 100. Ordering by
  `modificado_em` is only asked for when the integration enables `ordenar_por_modificacao`
  (it is not documented to work).
- Full-object PUT: an update is laid over the record as last read, fetched first when the
  caller does not pass it, so nothing GestãoClick holds is dropped.
- A create whose answer is lost (timeout, 5xx, dropped connection) may still have happened.
  Before sending it again we look the record up by its unique keys (CPF/CNPJ, e-mail,
  product code, sale code); after a timeout we first wait `create_settle_seconds`, because
  a slow server may still be writing it. A record without any unique key is looked up by
  its name (the `nome` filter, up to `content_lookup_pages` pages of namesakes) and every
  field sent; when that cannot tell, `CreateOutcomeUnknownError` is raised instead of
  risking a duplicate, and the engine must look before it retries.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping
from typing import Any, Unpack
from zoneinfo import ZoneInfo

import httpx
import structlog
from unidecode import unidecode

from crmsync.config import IntegrationConfig
from crmsync.mapping import normalize as n
from crmsync.matching import exact_value, ignored_keys
from crmsync.model.canonical import canonical_hash
from crmsync.providers.base import (
    AuthError,
    Capabilities,
    FatalError,
    ProtocolError,
    RateLimitedError,
    RemoteRecord,
    RetriableError,
    ValidationError,
)
from crmsync.providers.gestaoclick import mapping as m
from crmsync.providers.gestaoclick.client import (
    DEFAULT_BASE_URL,
    Envelope,
    GestaoClickClient,
    RemoteNotFoundError,
    item_path,
    normalise_base_url,
    parse_response,
)
from crmsync.providers.gestaoclick.pagination import PageMeta, check_items, check_page
from crmsync.providers.kit import HttpProvider, PageAnswer, PageNumberPaginator, PageRequest, Paginator
from crmsync.providers.kit.webhooks import signature_matches
from crmsync.providers.transport import TransportError, TransportTuning, company_key, jitter
from crmsync.settings import Settings, get_settings

log = structlog.get_logger("crmsync.providers.gestaoclick")

PAGE_SIZE = 100
RATE_LIMIT_PER_SECOND = 3.0
DAILY_QUOTA = 30_000
DEFAULT_TIMEZONE = "America/Sao_Paulo"


class CreateOutcomeUnknownError(RetriableError):
    """A create may or may not have happened and the record could not be looked up.

    Retriable, but only after the caller has looked the record up (find_by_keys) or asked
    a person: sending the same create again blindly could make a duplicate.
    """

    may_have_created = True


def _credential(credentials: Mapping[str, str], *names: str) -> str:
    for name in names:
        value = credentials.get(name)
        if value:
            return str(value)
    raise AuthError(f"credencial ausente: informe '{names[0]}'")


def _fold(text: str | None) -> str:
    return unidecode(text or "").strip().casefold()


# What a webhook delivery's `recurso` (or the head of its `evento`) names, per entity.
RECURSO_TO_ENTITY = {
    "clientes": "cliente",
    "produtos": "produto",
    "vendas": "venda",
    "cliente": "cliente",
    "produto": "produto",
    "venda": "venda",
}


class GestaoClickProvider(HttpProvider):
    """Provider for GestãoClick (key "gestao_click"), on the provider kit.

    `credentials` holds `access_token` and `secret_access_token` (the hyphenated header
    names are accepted too). `rate_limit_per_second`/`daily_quota` default to the documented
    limits; pass other values for a sandbox (0/None turns pacing or the quota guard off).
    `pace_factor` spaces requests at that share of the limit (lower it when the network
    between us and the API is jittery enough to draw 429s).
    """

    key = "gestao_click"
    display_name = "GestãoClick"
    mapping_errors = (m.MappingError,)
    # Read from the class by the scheduler (no credentials, no connection): the documented
    # daily quota per company, counted by the day of the integration's `timezone` (None).
    daily_quota: int | None = DAILY_QUOTA
    quota_timezone: str | None = None

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        *,
        credentials: Mapping[str, str],
        config: IntegrationConfig | None = None,
        settings: Settings | None = None,
        run_id: str | None = None,
        rate_limit_per_second: float | None = RATE_LIMIT_PER_SECOND,
        daily_quota: int | None = DAILY_QUOTA,
        create_attempts: int = 3,
        create_settle_seconds: float | None = None,
        **tuning: Unpack[TransportTuning],
    ) -> None:
        # What another process needs to build the same provider (see listing_factory).
        self._constructor_kwargs: dict[str, Any] | None = (
            None
            if tuning.get("http_transport") is not None
            else {
                "base_url": base_url,
                "credentials": dict(credentials),
                "config": config,
                "settings": settings,
                "run_id": run_id,
                "rate_limit_per_second": rate_limit_per_second,
                "daily_quota": daily_quota,
                "create_attempts": create_attempts,
                "create_settle_seconds": create_settle_seconds,
                **tuning,
            }
        )
        self.config = config or IntegrationConfig()
        self._ignored = ignored_keys(self.config.chaves_ignoradas)  # key values never looked up
        self.settings = settings or get_settings()
        self.base_url, self._origin = normalise_base_url(base_url)
        access = _credential(credentials, "access_token", "access-token")
        secret = _credential(credentials, "secret_access_token", "secret-access-token", "secret")
        timezone = self.config.timezone or DEFAULT_TIMEZONE
        self.zone = ZoneInfo(timezone)
        self.capabilities = Capabilities(
            page_size=PAGE_SIZE,
            sort_by_modification=self.config.ordenar_por_modificacao,
            changed_since_filter=False,
            webhooks=False,
            rate_limit_per_second=rate_limit_per_second or 0.0,
            daily_quota=daily_quota,
            timezone=timezone,
        )
        self._headers = {
            "access-token": access,
            "secret-access-token": secret,
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        self.open_transport(
            self.base_url,
            budget_key=company_key(access, secret),
            rate_limit_per_second=rate_limit_per_second,
            daily_quota=daily_quota,
            timezone=timezone,
            settings=self.settings,
            run_id=run_id,
            **tuning,
        )
        self.client = GestaoClickClient(self.send)  # writes and reads take the kit's one path
        self.create_attempts = max(1, create_attempts)
        # Pages of namesakes read to find a create whose answer was lost ("Consumidor Final"
        # can have thousands; beyond this the outcome is reported unknown, never guessed).
        self.content_lookup_pages = 10
        timeout_s = self.transport.timeout.read or self.settings.http_timeout_seconds
        self.create_settle_seconds = timeout_s if create_settle_seconds is None else create_settle_seconds
        self._log = log.bind(run_id=run_id) if run_id else log
        self._situacoes: list[dict[str, Any]] | None = None
        self._uncertain: set[tuple[str, str]] = set()

    # -- kit override points ----------------------------------------------------------

    def auth_headers(self) -> dict[str, str]:
        return dict(self._headers)

    def list_path(self, entity_type: str) -> str:
        return self._resource(entity_type)

    def get_url_params(self, entity_type: str, *, newest_first: bool = False) -> dict[str, Any]:
        params: dict[str, Any] = {"limite": PAGE_SIZE}
        if self.capabilities.sort_by_modification:
            params["ordenacao"] = "modificado_em"
            params["direcao"] = "desc" if newest_first else "asc"
        return params

    def get_paginator(self, entity_type: str, start_page: int) -> Paginator:
        return PageNumberPaginator(start_page=start_page, page_param="pagina", page_size=PAGE_SIZE)

    def parse_page(self, entity_type: str, response: httpx.Response, request: PageRequest, desc: str) -> PageAnswer:
        env = parse_response(response, desc)
        if not isinstance(env.data, list):
            raise ProtocolError(f"data deveria ser uma lista, veio {type(env.data).__name__}", request=desc)
        meta = PageMeta.parse(env.meta, request=desc, base_url=self._origin)
        page = request.page
        check_items(env.data, page_size=PAGE_SIZE, request=desc)
        nxt = check_page(meta, requested=page, item_count=len(env.data), page_size=PAGE_SIZE, request=desc)
        if env.meta is None and len(env.data) >= PAGE_SIZE:
            nxt = page + 1  # no meta at all: keep going until a short or empty page
        return PageAnswer(
            page=page,
            items=env.data,
            next_page=nxt,
            request=desc,
            total_records=meta.total_records,
            total_pages=meta.total_pages,
            page_size=meta.per_page or PAGE_SIZE,
        )

    def map_in(self, entity_type: str, raw: Mapping[str, Any]) -> RemoteRecord:
        return self._record(entity_type, raw)

    def map_out(self, entity_type: str, data: Mapping[str, Any], current: Mapping[str, Any] | None) -> dict[str, Any]:
        return self._to_remote(entity_type, data, current)

    # -- webhooks (the sandbox's emitter; real GestãoClick sends none) -------------------

    @staticmethod
    def verify_webhook(secret: str, timestamp: str, body: bytes, signature: str, delivery_id: str = "") -> bool:
        return signature_matches(secret, timestamp, body, signature, delivery_id)

    @staticmethod
    def webhook_target(payload: Mapping[str, Any]) -> tuple[str, str] | None:
        """(entity, external id) a delivery is about, or None when it names nothing we sync."""
        recurso = str(payload.get("recurso") or "").strip().lower()
        entity = RECURSO_TO_ENTITY.get(recurso)
        if entity is None:
            evento = str(payload.get("evento") or "")
            entity = RECURSO_TO_ENTITY.get(evento.split(".", 1)[0].strip().lower())
        ext = payload.get("id")
        data = payload.get("data")
        if ext is None and isinstance(data, Mapping):
            ext = data.get("id")
        if entity is None or ext is None or str(ext).strip() == "":
            return None
        return entity, str(ext)

    # -- helpers -----------------------------------------------------------------------

    @staticmethod
    def _resource(entity_type: str) -> str:
        try:
            return m.RESOURCES[entity_type]
        except KeyError:
            raise ValueError(f"entidade desconhecida '{entity_type}' (use cliente, produto ou venda)") from None

    def _object(self, env: Envelope) -> dict[str, Any]:
        if not isinstance(env.data, dict):
            raise ProtocolError(f"data deveria ser um objeto, veio {type(env.data).__name__}", request=env.request)
        return env.data

    def _to_canonical(self, entity_type: str, raw: Mapping[str, Any]) -> dict[str, Any]:
        if entity_type == "cliente":
            return m.cliente_from_remote(raw)
        if entity_type == "produto":
            return m.produto_from_remote(raw)
        return m.venda_from_remote(raw, self._situacao_name)

    def _record(self, entity_type: str, raw: Mapping[str, Any]) -> RemoteRecord:
        """Raises MappingError when the record cannot be read."""
        ext = raw.get("id")
        if ext in (None, "") or isinstance(ext, (dict, list, bool)):
            raise m.MappingError("registro sem id", {"id": "ausente"})
        data = self._to_canonical(entity_type, raw)
        return RemoteRecord(
            external_id=str(ext),
            data=data,
            modified_at=m.parse_local_timestamp(raw.get("modificado_em"), self.zone),
            version=canonical_hash(data),
            raw=dict(raw),
        )

    def _record_or_fail(self, entity_type: str, raw: Mapping[str, Any], request: str) -> RemoteRecord:
        try:
            return self._record(entity_type, raw)
        except m.MappingError as exc:
            raise FatalError(f"registro do GestãoClick não pôde ser lido: {exc}", request=request) from None

    def _to_remote(
        self, entity_type: str, data: Mapping[str, Any], current: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        try:
            if entity_type == "cliente":
                return m.cliente_to_remote(data, current)
            if entity_type == "produto":
                return m.produto_to_remote(data, current)
            return m.venda_to_remote(data, current, self._situacao_id)
        except m.MappingError as exc:
            raise ValidationError(str(exc), fields=exc.fields) from None

    # -- situações de venda (lookup list, read once per provider) ----------------------

    def _load_situacoes(self) -> list[dict[str, Any]]:
        if self._situacoes is None:
            env = self.client.get_list("situacoes_vendas", {"limite": PAGE_SIZE})
            self._situacoes = [s for s in env.data if isinstance(s, dict)]
        return self._situacoes

    def _situacao_name(self, situacao_id: str) -> str | None:
        for s in self._load_situacoes():
            if str(s.get("id")) == situacao_id:
                return str(s.get("nome")) if s.get("nome") else None
        return None

    def _situacao_id(self, name: str | None) -> str:
        situacoes = self._load_situacoes()
        if not situacoes:
            raise m.MappingError("o GestãoClick não tem situações de venda", {"situacao": "sem situações"})
        if not name:
            default = next((s for s in situacoes if str(s.get("padrao")) == "1"), situacoes[0])
            return str(default["id"])
        for s in situacoes:
            if _fold(str(s.get("nome"))) == _fold(name):
                return str(s["id"])
        known = ", ".join(str(s.get("nome")) for s in situacoes)
        raise m.MappingError(
            f"situação de venda desconhecida no GestãoClick: '{name}' (existem: {known})",
            {"situacao": "desconhecida"},
        )

    # -- reading -----------------------------------------------------------------------

    def listing_factory(self) -> Callable[[], GestaoClickProvider] | None:
        """A picklable recipe for this same provider in another process, which can then list
        pages while this one applies them (crmsync.engine.listing). None when that process
        would not share this one's pacing and quota (an in-memory limits store) or its HTTP
        layer (a transport handed in, as tests do to inject faults)."""
        if self._constructor_kwargs is None or not self.transport.limits_shared_across_processes:
            return None
        kwargs = dict(self._constructor_kwargs)
        if kwargs["settings"] is None:
            kwargs["settings"] = self.settings  # the same data directory and stores, not the child's guess
        return functools.partial(GestaoClickProvider, **kwargs)

    def get(self, entity_type: str, external_id: str) -> RemoteRecord:
        raw, env = self.client.get_object(item_path(self._resource(entity_type), external_id))
        return self._record_or_fail(entity_type, raw, env.request)

    def find_by_keys(self, entity_type: str, data: Mapping[str, Any]) -> RemoteRecord | None:
        """Look a record up by its unique keys, in the spec's order; exact matches only."""
        for params, matches in self._key_queries(entity_type, data):
            env = self.client.get_list(self._resource(entity_type), {**params, "limite": PAGE_SIZE})
            check_items(env.data, page_size=PAGE_SIZE, request=env.request)
            found = [item for item in env.data if isinstance(item, dict) and matches(item)]
            if found:
                found.sort(key=lambda item: int(str(item.get("id"))) if str(item.get("id")).isdigit() else 0)
                return self._record_or_fail(entity_type, found[0], env.request)
        return None

    def _key_queries(self, entity_type: str, data: Mapping[str, Any]) -> list[tuple[dict[str, str], Any]]:
        queries: list[tuple[dict[str, str], Any]] = []
        if entity_type == "cliente":
            for field in ("cpf", "cnpj"):
                doc = exact_value(field, n.digits(data.get(field)), self._ignored)
                if doc:
                    shown = n.format_cpf(doc) if len(doc) == 11 else n.format_cnpj(doc) if len(doc) == 14 else doc
                    queries.append(
                        (
                            {"cpf_cnpj": shown or doc},
                            lambda item, d=doc: d in (n.digits(item.get("cpf")), n.digits(item.get("cnpj"))),
                        )
                    )
            email = exact_value("email", data.get("email"), self._ignored)
            if email:
                queries.append(
                    (
                        {"email": email},
                        lambda item, e=email: str(item.get("email") or "").strip().lower() == e,
                    )
                )
        elif entity_type == "produto":
            codigo = exact_value("codigo", data.get("codigo"), self._ignored)
            if codigo:
                queries.append(
                    (
                        {"codigo": codigo},
                        lambda item, c=codigo: str(item.get("codigo_interno") or "").strip() == c,
                    )
                )
        elif entity_type == "venda":
            codigo = exact_value("codigo", data.get("codigo"), self._ignored)
            if codigo:
                queries.append(({"codigo": codigo}, lambda item, c=codigo: str(item.get("codigo") or "").strip() == c))
        else:
            self._resource(entity_type)
        return queries

    # -- writing -----------------------------------------------------------------------

    def create(self, entity_type: str, data: Mapping[str, Any]) -> RemoteRecord:
        resource = self._resource(entity_type)
        payload = self._to_remote(entity_type, data, None)
        has_keys = bool(self._key_queries(entity_type, data))
        identity = (entity_type, canonical_hash({k: data.get(k) for k in ("cpf", "cnpj", "email", "codigo")}))
        if has_keys and identity in self._uncertain:
            # An earlier call could not tell whether this create happened: look first.
            found = self.find_by_keys(entity_type, data)
            if found is not None:
                self._uncertain.discard(identity)
                return found
        last: RetriableError | None = None
        for attempt in range(1, self.create_attempts + 1):
            try:
                env = self.client.call("POST", resource, body=payload, idempotent=False)
            except RateLimitedError:
                raise  # refused before any work (the transport already retried): nothing to check
            except RetriableError as exc:
                if isinstance(exc, TransportError) and not exc.request_sent:
                    raise
                last = exc
                if has_keys:
                    self._uncertain.add(identity)
                self.log_lost_create(entity_type, attempt, exc)
                if isinstance(exc, TransportError) and exc.timed_out and self.create_settle_seconds > 0:
                    time.sleep(self.create_settle_seconds)  # a slow server may still be writing it
                try:
                    if has_keys:
                        found = self.find_by_keys(entity_type, data)
                    else:
                        found = self._find_by_content(entity_type, data, exc)
                except CreateOutcomeUnknownError:
                    raise
                except RetriableError as lookup_exc:
                    raise CreateOutcomeUnknownError(
                        f"a criação pode ter acontecido e a conferência falhou: {lookup_exc}",
                        request=exc.request,
                    ) from lookup_exc
                if found is not None:
                    self._uncertain.discard(identity)
                    self._log.info(
                        "create_found_after_lost_answer",
                        entity=entity_type,
                        external_id=found.external_id,
                        attempt=attempt,
                    )
                    return found
                self._uncertain.discard(identity)
                if attempt < self.create_attempts:
                    time.sleep(jitter(0.5 * attempt))
                continue
            raw = self._object(env)
            return self._record_or_fail(entity_type, raw, env.request)
        assert last is not None
        raise last

    def _find_by_content(self, entity_type: str, data: Mapping[str, Any], lost: RetriableError) -> RemoteRecord | None:
        """A record without unique keys whose create answer was lost, found by its name
        (GestãoClick's ``nome`` filter) and then by every field we sent being what the record
        holds; the newest such record is ours. None when there is none: the create did not
        happen and may be sent again. When it cannot tell (a venda without code, more
        namesakes than `content_lookup_pages` pages), CreateOutcomeUnknownError: a blind retry
        could duplicate."""
        nome = data.get("nome")
        if entity_type not in ("cliente", "produto") or not nome:
            raise CreateOutcomeUnknownError(
                f"a criação pode ter acontecido e o registro não tem chave única para conferir: {lost.reason}",
                request=lost.request,
            ) from lost
        same: list[RemoteRecord] = []
        params = {"nome": nome, "limite": PAGE_SIZE}
        for page, answer in self.paginate(entity_type, self._resource(entity_type), params):
            same += [
                record
                for record in page.records
                if all(record.data.get(k) == v for k, v in data.items() if k in record.data)
            ]
            if answer.next_page is not None and answer.next_page > self.content_lookup_pages:
                # the newest namesake may be on a page not read
                raise CreateOutcomeUnknownError(
                    f"a criação pode ter acontecido e há homônimos demais para conferir: {lost.reason}",
                    request=lost.request,
                ) from lost
        if not same:
            return None
        return max(same, key=lambda r: int(r.external_id) if r.external_id.isdigit() else 0)

    def update(
        self, entity_type: str, external_id: str, data: Mapping[str, Any], current: RemoteRecord | None = None
    ) -> RemoteRecord:
        resource = self._resource(entity_type)
        if current is None or not current.raw:
            # Full-object PUT: without what GestãoClick holds now we would erase it.
            raw_now, _env = self.client.get_object(item_path(resource, external_id))
        else:
            raw_now = current.raw
        payload = self._to_remote(entity_type, data, raw_now)
        env = self.client.call("PUT", item_path(resource, external_id), body=payload)
        return self._record_or_fail(entity_type, self._object(env), env.request)

    def delete(self, entity_type: str, external_id: str) -> None:
        try:
            self.client.call("DELETE", item_path(self._resource(entity_type), external_id), allow_empty=True)
        except RemoteNotFoundError as exc:
            if exc.attempts > 1:
                return  # an earlier try whose answer was lost already deleted it
            raise

    def deactivate(self, entity_type: str, external_id: str) -> RemoteRecord:
        if entity_type == "venda":
            raise ValidationError("vendas não têm o campo ativo no GestãoClick", fields={"ativo": "não suportado"})
        return self.update(entity_type, external_id, {"ativo": False})

    # -- lifecycle (stats, quota, close: from the kit) -----------------------------------

    def __enter__(self) -> GestaoClickProvider:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
