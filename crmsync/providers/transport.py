"""HTTP transport shared by the provider adapters: pacing, daily quota, retries, timeouts.

Why it exists: a CRM such as GestãoClick allows N requests per second and M per day *per
company*, and that budget is shared by every process of ours (workers, the API, the CLI)
and by the company's other apps. Going over it costs a 429 and, at worst, a blocked day.
So every request goes through:

1. a shared pause (a `Retry-After` one process received holds all of them back);
2. the daily quota counter, which refuses to *send* once our share of the day is spent;
3. a token bucket (pyrate-limiter's GCRA with burst 1, i.e. perfectly even spacing) kept in
   a store every process sees: SQLite by default, Redis when the URL is `redis://`;
4. the request itself over one keep-alive `httpx.Client`, with a timeout per phase, an
   overall deadline (connect and every read of the answer) and a size cap on the answer,
   so a CRM that drip-feeds or floods its answer cannot hold a worker;
5. retries with exponential backoff and jitter (tenacity) on retriable failures only.
   `Retry-After` wins over the backoff. A request that may have reached the server
   (timeout, dropped answer, 5xx) is retried only when it is idempotent; a POST is handed
   back to the provider, which knows how to look the record up before creating again.

Requests are described as "GET /clientes?pagina=3" in logs and errors; headers (where the
tokens live) never are.
"""

from __future__ import annotations

import functools
import hashlib
import math
import random
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, TypedDict
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import certifi
import httpx
import structlog
from pyrate_limiter import Rate, RateItem, StateBucket
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from crmsync.providers.base import ProtocolError, RateLimitedError, RetriableError
from crmsync.providers.limits import SharedLimits, open_shared_limits  # the budget's stores
from crmsync.settings import Settings, get_settings

log = structlog.get_logger("crmsync.providers.transport")

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
# Spacing at 96.5% of the limit: four requests then need 3 x 345.4 ms = 1036 ms, so up to
# ~36 ms of delay between our send and the server's clock (scheduling, GC) never puts four
# into one second of a sliding window, while the rate stays above 95% of the limit.
DEFAULT_PACE_FACTOR = 0.965


# How many times one request may time out before the transport gives up on it; None: as many
# as `max_attempts`. A worker job sets it to 1 (`timeouts_tried_once`): a CRM that took the
# request and never answered will most likely not answer the repeat either, and each repeat
# holds a worker shared by every store for a whole timeout; the job's failure opens the
# integration's breaker and the failed-items ledger retries later instead.
_TIMEOUT_ATTEMPTS: ContextVar[int | None] = ContextVar("crmsync_timeout_attempts", default=None)


@contextmanager
def timeouts_tried_once(attempts: int | None = 1) -> Iterator[None]:
    """Within the block (this thread, and threads started with its context), a request that
    times out is sent at most `attempts` times (None: the transport's usual retries)."""
    token = _TIMEOUT_ATTEMPTS.set(attempts)
    try:
        yield
    finally:
        _TIMEOUT_ATTEMPTS.reset(token)


def company_key(*secrets: str) -> str:
    """Key of a company's shared budget: a hash, so the store never holds a token."""
    return hashlib.sha256("\x00".join(secrets).encode()).hexdigest()


def describe_request(method: str, path: str, params: Mapping[str, Any] | None = None) -> str:
    """ "GET /clientes?pagina=3": what logs and error messages may show of a request."""
    query = urlencode({k: v for k, v in (params or {}).items() if v is not None})
    return f"{method.upper()} {path}" + (f"?{query}" if query else "")


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


# ----------------------------------------------------------------------------- transport


@functools.cache
def shared_ssl_context() -> ssl.SSLContext:
    """One TLS context per process, as httpx builds by default (certifi's CAs): building it
    loads the CA bundle, about 7% of a busy `serve` process's CPU when every job's transport
    built its own. A context is safe to share between clients and threads."""
    return ssl.create_default_context(cafile=certifi.where())


@dataclass
class TransportStats:
    """Counters the engine and `/metrics` read; updated under a lock (threads share a client)."""

    requests_sent: int = 0
    retries: int = 0
    rate_limited: int = 0  # 429s received
    quota_refused: int = 0  # requests the daily-quota guard kept from being sent
    timeouts: int = 0
    connection_errors: int = 0
    by_status: Counter[str] = field(default_factory=Counter)
    waited_for_rate_seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests_sent": self.requests_sent,
            "retries": self.retries,
            "rate_limited": self.rate_limited,
            "quota_refused": self.quota_refused,
            "timeouts": self.timeouts,
            "connection_errors": self.connection_errors,
            "by_status": dict(self.by_status),
            "waited_for_rate_seconds": round(self.waited_for_rate_seconds, 3),
        }

    def add(self, other: Mapping[str, Any]) -> None:
        """Add another transport's `as_dict()` to these counters."""
        for name in (f.name for f in fields(self)):
            current = getattr(self, name)
            if isinstance(current, Counter):
                current.update({str(k): int(v) for k, v in (other.get(name) or {}).items()})
            else:
                setattr(self, name, current + type(current)(other.get(name) or 0))


class TransportError(RetriableError):
    """A request that failed below HTTP (timeout, refused or dropped connection).

    `request_sent` is False when the server cannot have seen the request (connection
    refused, connect timeout): then even a POST may be sent again. `timed_out` says the
    server may still be working on it.
    """

    def __init__(
        self, message: str, *, request: str | None = None, request_sent: bool = True, timed_out: bool = False
    ) -> None:
        super().__init__(message, request=request)
        self.request_sent = request_sent
        self.timed_out = timed_out


class ServerError(RetriableError):
    """HTTP 5xx: the server failed; for a POST we cannot know whether it did the work.
    `body` is its answer (read within the size cap): some 5xx say more than "failed"."""

    def __init__(self, message: str, *, status: int, request: str | None = None, body: bytes = b"") -> None:
        super().__init__(message, request=request)
        self.status = status
        self.body = body


class TransportTuning(TypedDict, total=False):
    """How a provider's requests are tuned, handed through the provider unread to its
    `Transport` (the defaults are the transport's): what tests, sandboxes and benchmarks
    change, never an integration's config. One list, so a provider's constructor, the kit's
    ``open_transport`` and the transport cannot disagree on the names."""

    pace_factor: float
    timeout: float | None
    max_attempts: int
    ratelimit_url: str | None
    http_transport: httpx.BaseTransport | None


@dataclass(frozen=True)
class _Outgoing:
    """One request as every try sends it again: what `request` was asked, its query without
    blanks, and its description for logs and errors."""

    method: str
    path: str
    params: Mapping[str, Any]
    body: Any
    desc: str
    headers: Mapping[str, str] | None
    form: Mapping[str, str] | None


class Transport:
    """One keep-alive HTTP client per integration, paced to the company's shared budget.

    `rate_limit_per_second` is the provider's documented limit; requests are spaced
    evenly at `rate_limit_per_second * pace_factor` so timing jitter never puts one more
    than the limit into any one-second window. 0/None disables pacing (tests, sandboxes).
    `daily_quota` is the provider's per-company daily limit, of which
    `quota_reserve_share` is left for the company's other apps.
    """

    def __init__(
        self,
        base_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        auth: httpx.Auth | None = None,
        budget_key: str,
        rate_limit_per_second: float | None = 3.0,
        daily_quota: int | None = None,
        timezone: str = "UTC",
        settings: Settings | None = None,
        pace_factor: float = DEFAULT_PACE_FACTOR,
        timeout: float | None = None,
        deadline: float | None = None,
        max_answer_bytes: int | None = None,
        max_attempts: int = 5,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        max_retry_after: float = 120.0,
        quota_reserve_share: float | None = None,
        ratelimit_url: str | None = None,
        http_transport: httpx.BaseTransport | None = None,
        run_id: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings or get_settings()
        self.base_url = base_url.rstrip("/")
        self.budget_key = budget_key
        self.rate_limit_per_second = rate_limit_per_second or 0.0
        self.pace_per_second = self.rate_limit_per_second * pace_factor if self.rate_limit_per_second else 0.0
        self.daily_quota = daily_quota
        share = self.settings.quota_reserve_share if quota_reserve_share is None else quota_reserve_share
        if not 0.0 <= share < 1.0:
            raise ValueError("quota_reserve_share deve estar entre 0 e 1")
        self.quota_budget = math.floor(daily_quota * (1.0 - share)) if daily_quota else None
        self.zone = ZoneInfo(timezone)
        self.max_attempts = max(1, max_attempts)
        self.max_retry_after = max_retry_after
        self.timeout = httpx.Timeout(timeout if timeout is not None else self.settings.http_timeout_seconds)
        self.deadline = deadline if deadline is not None else self.settings.http_deadline_seconds
        self.max_answer_bytes = (
            max_answer_bytes if max_answer_bytes is not None else self.settings.http_max_answer_bytes
        )
        # Exponential backoff with full jitter on top; spelled out rather than with
        # tenacity's wait_exponential_jitter, whose arguments changed between 8.x and 9.x.
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._sleep = sleep
        self._log = log.bind(run_id=run_id) if run_id else log
        self._stats = TransportStats()
        self._stats_lock = threading.Lock()
        self._client = httpx.Client(
            headers=dict(headers or {}),
            auth=auth,  # e.g. an OAuth2 flow that fetches, renews and re-sends once on 401
            timeout=self.timeout,
            transport=http_transport,
            limits=httpx.Limits(max_keepalive_connections=4, keepalive_expiry=30.0),
            follow_redirects=False,
            verify=shared_ssl_context(),
        )
        needs_store = bool(self.pace_per_second) or bool(self.quota_budget)
        store_url = ratelimit_url or self.settings.resolved_ratelimit_url()
        self._limits: SharedLimits | None = open_shared_limits(store_url) if needs_store else None
        self._bucket: StateBucket | None = None
        if self._limits is not None and self.pace_per_second:
            # Rate needs integers: express "2.91/s" as 2910 per 1000 s, burst 1 (even spacing).
            per_kilosecond = max(1, round(self.pace_per_second * 1000))
            self._bucket = self._limits.bucket(budget_key, Rate(per_kilosecond, 1_000_000, burst=1))
        self._closed = False

    # -- public ------------------------------------------------------------------------

    @property
    def limits_shared_across_processes(self) -> bool:
        """Whether another process with the same settings paces and counts against the same
        budget as this one (true without limits, or with a file or Redis store)."""
        return self._limits is None or self._limits.shared_across_processes

    def stats(self) -> dict[str, Any]:
        with self._stats_lock:
            return self._stats.as_dict()

    def add_stats(self, other: Mapping[str, Any]) -> None:
        """Count in what another process's transport did for this one (the process that
        lists a long scan's pages), so the job's figures and `/metrics` include it."""
        with self._stats_lock:
            self._stats.add(other)

    def requests_used_today(self) -> int | None:
        """Requests our processes sent today (provider's local day) for this company."""
        if self._limits is None or not self.quota_budget:
            return None
        return self._limits.quota_used(self.budget_key, self._today())

    def url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return f"{self.base_url}/{path.lstrip('/')}"

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        idempotent: bool | None = None,
        headers: Mapping[str, str] | None = None,
        form: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Send one request (with retries); return any answer that is not 429/5xx.
        `headers` are this request's own (a bearer token); `form` is a form-encoded body.

        4xx answers come back as responses (the provider turns them into its errors);
        429, 5xx and transport failures raise `RateLimitedError`, `ServerError`,
        `TransportError` once retries are spent, or at once when retrying would not be
        safe. The response's `extensions["crmsync_attempts"]` tells how many tries it took.
        """
        method = method.upper()
        safe_to_repeat = method in IDEMPOTENT_METHODS if idempotent is None else idempotent
        clean_params = {k: v for k, v in (params or {}).items() if v is not None}
        desc = describe_request(method, path, clean_params)
        outgoing = _Outgoing(method, path, clean_params, json, desc, headers, form)
        attempts = 0
        timeouts = 0
        timeout_cap = _TIMEOUT_ATTEMPTS.get()

        def attempt() -> httpx.Response:
            nonlocal attempts, timeouts
            attempts += 1
            try:
                response = self._send_once(outgoing, attempts)
            except TransportError as exc:
                timeouts += isinstance(exc.__cause__, httpx.TimeoutException)
                raise
            response.extensions["crmsync_attempts"] = attempts
            return response

        def should_retry(exc: BaseException) -> bool:
            if timeout_cap is not None and timeouts >= timeout_cap and isinstance(exc, TransportError):
                return False
            return self._should_retry(exc, safe_to_repeat)

        retrying = Retrying(
            stop=stop_after_attempt(self.max_attempts),
            wait=self._wait,
            retry=retry_if_exception(should_retry),
            before_sleep=lambda state: self._before_sleep(state, desc),
            sleep=self._sleep,
            reraise=True,
        )
        return retrying(attempt)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._client.close()
        if self._limits is not None:
            self._limits.close()

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- retry policy ------------------------------------------------------------------

    def _should_retry(self, exc: BaseException, safe_to_repeat: bool) -> bool:
        if isinstance(exc, RateLimitedError):
            if exc.quota_exhausted:
                return False
            # A 429 was refused before any work: safe for every method, unless the wait
            # is so long the engine had better reschedule the job.
            return exc.retry_after is None or exc.retry_after <= self.max_retry_after
        if isinstance(exc, TransportError) and not exc.request_sent:
            return True
        if isinstance(exc, RetriableError):
            return safe_to_repeat
        return False

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RateLimitedError) and exc.retry_after is not None:
            return float(exc.retry_after)  # the server knows best: no backoff on top
        exp = self._backoff_initial * (2 ** max(0, state.attempt_number - 1))
        return min(self._backoff_max, exp + random.uniform(0.0, self._backoff_initial))

    def _before_sleep(self, state: RetryCallState, desc: str) -> None:
        exc = state.outcome.exception() if state.outcome else None
        with self._stats_lock:
            self._stats.retries += 1
        wait = state.next_action.sleep if state.next_action else 0.0
        self._log.warning(
            "http_retry",
            request=desc,
            attempt=state.attempt_number,
            wait_seconds=round(wait, 3),
            error=type(exc).__name__,
            reason=str(exc),
        )

    # -- one attempt -------------------------------------------------------------------

    def _today(self) -> str:
        return datetime.now(self.zone).date().isoformat()

    def _next_local_midnight(self) -> float:
        now = datetime.now(self.zone)
        tomorrow = (now + timedelta(days=1)).date()
        return datetime(tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=self.zone).timestamp()

    def pace(self, desc: str) -> None:
        """Wait for this company's turn (and spend its quota) for a request sent outside
        `request`, e.g. an OAuth2 token fetched inside an ``httpx.Auth`` flow."""
        if self._limits is not None:
            self._wait_for_turn(desc)

    def _wait_for_turn(self, desc: str) -> None:
        """Honour a shared Retry-After pause, spend quota, then wait for a token."""
        assert self._limits is not None
        while True:
            until = self._limits.paused_until(self.budget_key)
            delay = until - time.time()
            if delay <= 0:
                break
            self._sleep(min(delay, self.max_retry_after))
        if self.quota_budget:
            midnight = self._next_local_midnight()
            used = self._limits.reserve_quota(self.budget_key, self._today(), self.quota_budget, midnight)
            if used is None:
                with self._stats_lock:
                    self._stats.quota_refused += 1
                self._log.warning("quota_exhausted", request=desc, budget=self.quota_budget)
                raise RateLimitedError(
                    "cota diária de requisições esgotada (a reserva para outros aplicativos foi mantida)",
                    retry_after=max(1.0, midnight - time.time()),
                    request=desc,
                    quota_exhausted=True,
                )
        if self._bucket is not None:
            started = time.monotonic()
            while True:
                item = RateItem(self.budget_key, int(time.time() * 1000), 1)
                if self._bucket.put(item):
                    break
                wait_ms = self._bucket.waiting(item)
                self._sleep(max(1, int(wait_ms)) / 1000.0)  # type: ignore[arg-type]
            with self._stats_lock:
                self._stats.waited_for_rate_seconds += time.monotonic() - started

    def _send_once(self, outgoing: _Outgoing, attempt: int) -> httpx.Response:
        desc = outgoing.desc
        if self._limits is not None:
            self._wait_for_turn(desc)
        with self._stats_lock:
            self._stats.requests_sent += 1
        started = time.monotonic()
        try:
            response = self._bounded_request(outgoing, started + self.deadline)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            self._count_failure(timeout=isinstance(exc, httpx.TimeoutException))
            raise TransportError(
                f"não foi possível conectar ao provedor ({type(exc).__name__})",
                request=desc,
                request_sent=False,
            ) from exc
        except httpx.TimeoutException as exc:
            self._count_failure(timeout=True)
            raise TransportError(
                f"tempo de resposta esgotado ({type(exc).__name__})", request=desc, timed_out=True
            ) from exc
        except httpx.TransportError as exc:
            self._count_failure(timeout=False)
            raise TransportError(f"conexão interrompida pelo provedor ({type(exc).__name__})", request=desc) from exc
        elapsed_ms = round((time.monotonic() - started) * 1000, 1)
        status = response.status_code
        with self._stats_lock:
            self._stats.by_status[str(status)] += 1
            if status == 429:
                self._stats.rate_limited += 1
        self._log.debug("http_request", request=desc, status=status, elapsed_ms=elapsed_ms, attempt=attempt)
        if status == 429:
            raise self._told_to_wait(
                response, desc, "http_429", "o provedor recusou por limite de requisições (HTTP 429)"
            )
        if status == 503 and response.headers.get("retry-after"):
            # An overloaded server (or its proxy) saying when to come back: honoured like a 429.
            raise self._told_to_wait(
                response, desc, "http_503_retry_after", "o provedor está sobrecarregado (HTTP 503 com Retry-After)"
            )
        if status >= 500:
            raise ServerError(f"erro do provedor (HTTP {status})", status=status, request=desc, body=response.content)
        return response

    def _told_to_wait(self, response: httpx.Response, desc: str, event: str, message: str) -> RateLimitedError:
        """The error of an answer that says when to come back (``Retry-After``): every process
        sharing this budget pauses until then (capped at `max_retry_after`)."""
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        if retry_after is not None and self._limits is not None:
            self._limits.pause(self.budget_key, time.time() + min(retry_after, self.max_retry_after))
        self._log.warning(event, request=desc, retry_after=retry_after)
        return RateLimitedError(message, retry_after=retry_after, request=desc)

    def _phase_timeout(self, left: float) -> httpx.Timeout:
        """The per-phase timeouts, none longer than the time left before the deadline."""
        left = max(0.001, left)

        def cap(value: float | None) -> float:
            return left if value is None else min(value, left)

        t = self.timeout
        return httpx.Timeout(connect=cap(t.connect), read=cap(t.read), write=cap(t.write), pool=cap(t.pool))

    def _bounded_request(self, outgoing: _Outgoing, deadline: float) -> httpx.Response:
        """Send and read the whole answer within `deadline` (monotonic) and the size cap.
        Each read waits at most the time left, so a drip-fed answer ends at the deadline
        (give or take one read), not after a read timeout per byte."""
        desc = outgoing.desc
        request = self._client.build_request(
            outgoing.method,
            self.url(outgoing.path),
            params=outgoing.params or None,
            json=outgoing.body,
            data=dict(outgoing.form) if outgoing.form is not None else None,
            headers=dict(outgoing.headers) if outgoing.headers else None,
            timeout=self._phase_timeout(deadline - time.monotonic()),
        )
        response = self._client.send(request, stream=True)
        if response.is_stream_consumed:  # an answer already in memory (a test transport)
            if len(response.content) > self.max_answer_bytes:
                raise self._too_large(desc)
            return response
        try:
            declared = response.headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > self.max_answer_bytes:
                raise self._too_large(desc)
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_raw():
                size += len(chunk)
                if size > self.max_answer_bytes:
                    raise self._too_large(desc)
                chunks.append(chunk)
                if time.monotonic() > deadline:
                    raise httpx.ReadTimeout(f"answer not complete within {self.deadline:g} s", request=request)
        finally:
            response.close()
        content = b"".join(chunks)
        decoded = httpx.Response(
            response.status_code,
            headers=response.headers,
            content=content,
            request=request,
            extensions=dict(response.extensions),
        )
        if len(decoded.content) > self.max_answer_bytes:  # a compressed answer, inflated
            raise self._too_large(desc)
        return decoded

    def _too_large(self, desc: str) -> ProtocolError:
        with self._stats_lock:
            self._stats.by_status["too_large"] += 1
        return ProtocolError(f"resposta do provedor maior que o limite de {self.max_answer_bytes} bytes", request=desc)

    def _count_failure(self, *, timeout: bool) -> None:
        with self._stats_lock:
            if timeout:
                self._stats.timeouts += 1
            else:
                self._stats.connection_errors += 1


def jitter(seconds: float, share: float = 0.1) -> float:
    """`seconds` plus up to `share` of it at random, so processes do not retry in step."""
    return seconds + random.uniform(0.0, seconds * share)


__all__ = [
    "ServerError",
    "Transport",
    "TransportError",
    "TransportStats",
    "company_key",
    "describe_request",
    "jitter",
    "parse_retry_after",
]
