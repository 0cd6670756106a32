"""What every provider adapter offers the engine, and the errors it may raise.

Modelled on the OCA connector's backend adapter and the Meltano SDK's two error kinds: the
engine only needs to know whether an error is worth retrying (and when), or is final for
that item. Records cross this boundary as canonical dicts; the provider owns its JSON.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from crmsync.model.canonical import ENTITY_TYPES


class ProviderError(Exception):
    """Base of all provider errors. `retriable` says whether the same call may succeed later."""

    retriable: bool = False

    def __init__(self, message: str, *, request: str | None = None) -> None:
        super().__init__(message if request is None else f"{message} [{request}]")
        self.reason = message  # without the request, for a message that names the request itself
        self.request = request  # "GET /clientes?pagina=3": never a header, never a token


def error_message(exc: BaseException) -> str:
    """What a person reads of an error: a provider's own message as it is, anything else
    with its type (a bare "KeyError: 'id'" says nothing without it)."""
    text = str(exc) or type(exc).__name__
    if isinstance(exc, ProviderError):
        return text
    orig = getattr(exc, "orig", None)
    if orig is not None and type(exc).__module__ == "sqlalchemy.exc":
        # the database's own message, without the SQL and its parameters (a row's data)
        return f"{type(exc).__name__}: {orig}"
    return f"{type(exc).__name__}: {text}"


class RetriableError(ProviderError):
    """Timeouts, connection drops, 5xx: try again with backoff."""

    retriable = True


class RateLimitedError(RetriableError):
    """HTTP 429 or the local quota guard: wait `retry_after` seconds (None: use backoff)."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        request: str | None = None,
        quota_exhausted: bool = False,
    ) -> None:
        super().__init__(message, request=request)
        self.retry_after = retry_after
        self.quota_exhausted = quota_exhausted


class FatalError(ProviderError):
    """The same call will fail again: count the item as failed and move on."""


class NotFoundError(FatalError):
    pass


class AuthError(FatalError):
    pass


class ValidationError(FatalError):
    """The provider refused the data; `fields` maps field names to its messages."""

    def __init__(self, message: str, *, fields: Mapping[str, str] | None = None, request: str | None = None) -> None:
        super().__init__(message, request=request)
        self.fields = dict(fields or {})


class ProtocolError(FatalError):
    """The answer is not what the API documents (HTML page, truncated JSON, wrong types)."""


@dataclass(frozen=True)
class Capabilities:
    page_size: int = 100
    sort_by_modification: bool = False
    changed_since_filter: bool = False
    webhooks: bool = False
    rate_limit_per_second: float = 3.0
    daily_quota: int | None = None
    timezone: str = "UTC"
    entities: tuple[str, ...] = ENTITY_TYPES


@dataclass
class RemoteRecord:
    """One external record: its id, canonical data (only the fields the provider has),
    modification time in UTC when the provider tells it, and a version string that
    changes whenever the record changes (content hash when nothing better exists)."""

    external_id: str
    data: dict[str, Any]
    modified_at: datetime | None = None
    version: str = ""
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass
class Page:
    records: list[RemoteRecord]
    page: int
    next_page: int | None
    total: int | None = None
    # Items of this page that could not be mapped: (external id or "?", error message).
    errors: list[tuple[str, str]] = field(default_factory=list)
    # When the request for this page was sent: a record synced after it (by a push or a
    # webhook while the page waited, e.g. read ahead) is newer than the copy on the page.
    fetched_at: datetime | None = None


@runtime_checkable
class Provider(Protocol):
    key: str
    capabilities: Capabilities

    def list_page(self, entity_type: str, page: int = 1, *, newest_first: bool = False) -> Page: ...

    def iter_pages(self, entity_type: str, start_page: int = 1, *, newest_first: bool = False) -> Iterator[Page]: ...

    def get(self, entity_type: str, external_id: str) -> RemoteRecord: ...

    def create(self, entity_type: str, data: Mapping[str, Any]) -> RemoteRecord: ...

    def update(
        self, entity_type: str, external_id: str, data: Mapping[str, Any], current: RemoteRecord | None = None
    ) -> RemoteRecord: ...

    def delete(self, entity_type: str, external_id: str) -> None: ...

    def deactivate(self, entity_type: str, external_id: str) -> RemoteRecord: ...

    def find_by_keys(self, entity_type: str, data: Mapping[str, Any]) -> RemoteRecord | None: ...

    def requests_used_today(self) -> int | None: ...

    def close(self) -> None: ...


@runtime_checkable
class ChangedSinceListing(Protocol):
    """A provider whose API can list what changed since a moment (SuiteCRM's
    ``filter[date_modified][gte]``), declared by ``capabilities.changed_since_filter``.

    The engine then polls with it: an incremental pull costs requests in proportion to the
    changes, not to the store's size. Pages may repeat records already applied (providers
    read with an overlap because their stamps are coarse); the engine drops those by
    version. Deletes are never listed: they are inferred by a full listing (``iter_pages``).
    """

    def iter_changed(self, entity_type: str, since: datetime) -> Generator[Page, None, None]: ...


@runtime_checkable
class ListsIds(Protocol):
    """A provider that can list only the ids of an entity's live records, in large cheap
    pages: what a changed-since provider's deletes are inferred from (they are never listed
    as changes). Every id once; an error rather than an incomplete listing."""

    def iter_ids(self, entity_type: str) -> Generator[list[str], None, None]: ...


@runtime_checkable
class ParsesWebhooks(Protocol):
    """A provider that receives webhook deliveries: it checks their signature and says which
    record a delivery is about (the record itself is always fetched, never trusted)."""

    def verify_webhook(self, secret: str, timestamp: str, body: bytes, signature: str, delivery_id: str) -> bool: ...

    def webhook_target(self, payload: Mapping[str, Any]) -> tuple[str, str] | None: ...
