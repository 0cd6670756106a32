"""Rate limiting, daily quota and request statistics of the sandbox.

The real API allows 3 requests per second and 30,000 per day *per company*; the sandbox
enforces the same with a true sliding 1-second window (not a token bucket) so that a client
whose limiter is slightly wrong gets caught, and it records the densest 1-second window it
saw so benchmarks can prove a client never exceeded the limit.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from crmsync.sandbox.config import SandboxConfig
from crmsync.sandbox.formats import SandboxClock

FAULT_KINDS = ("http_500", "slow", "drop", "lost_answer")
# Numeric ids (GestãoClick) and UUIDs (SuiteCRM) both collapse to ``{id}`` in route stats.
_ID_SEGMENT = re.compile(r"/(?:\d+|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})(?=/|$)")


def normalise_route(method: str, path: str) -> str:
    """``GET /api/clientes/12`` -> ``GET /clientes/{id}``."""
    if path == "/api" or path.startswith("/api/"):
        path = path[4:] or "/"
    path = _ID_SEGMENT.sub("/{id}", path.rstrip("/") or "/")
    return f"{method.upper()} {path}"


@dataclass
class CompanyState:
    name: str
    accepted: deque[float] = field(default_factory=deque)  # monotonic times inside the window
    seen: deque[float] = field(default_factory=deque)  # every authenticated request, for the max metric
    max_window: int = 0
    quota_day: str = ""
    quota_used: int = 0
    requests_total: int = 0
    rate_limited: int = 0
    quota_exceeded: int = 0


@dataclass
class Decision:
    allowed: bool
    reason: str = ""  # "rate" or "quota" when refused
    retry_after: int = 0


class Traffic:
    """Thread-safe limiter + counters; one per app."""

    def __init__(self, config: SandboxConfig, clock: SandboxClock) -> None:
        self.config = config
        self.clock = clock
        self._lock = threading.Lock()
        self.companies: dict[str, CompanyState] = {c.name: CompanyState(c.name) for c in config.company_list()}
        self._reset_counters()

    def _reset_counters(self) -> None:
        self.total_requests = 0
        self.routes: dict[str, Counter[str]] = {}
        self.faults: Counter[str] = Counter()
        self.log: deque[dict[str, Any]] = deque(maxlen=max(1, self.config.request_log_size))
        self.webhooks: Counter[str] = Counter()

    def _window(self) -> tuple[int, float]:
        rate = self.config.rate_limit
        if rate >= 1:
            return math.floor(rate), 1.0
        return 1, 1.0 / rate

    def admit(self, company: str) -> Decision:
        """Sliding-window rate limit then daily quota; refused requests do not use quota."""
        now = time.monotonic()
        with self._lock:
            st = self.companies[company]
            st.requests_total += 1
            st.seen.append(now)
            while st.seen and st.seen[0] <= now - 1.0:
                st.seen.popleft()
            st.max_window = max(st.max_window, len(st.seen))
            if self.config.rate_limit > 0:
                limit, window = self._window()
                while st.accepted and st.accepted[0] <= now - window:
                    st.accepted.popleft()
                if len(st.accepted) >= limit:
                    st.rate_limited += 1
                    wait = st.accepted[0] + window - now
                    return Decision(False, "rate", max(1, math.ceil(wait)))
            if self.config.daily_quota > 0:
                today = self.clock.today()
                if st.quota_day != today:
                    st.quota_day, st.quota_used = today, 0
                if st.quota_used >= self.config.daily_quota:
                    st.quota_exceeded += 1
                    return Decision(False, "quota", self.clock.seconds_to_midnight())
                st.quota_used += 1
            if self.config.rate_limit > 0:
                st.accepted.append(now)
            return Decision(True)

    def record(
        self, method: str, path: str, status: int, company: str | None, outcome: str, fault: str | None = None
    ) -> None:
        """outcome: served, 429, 401, not_found... ; fault: one of FAULT_KINDS or None."""
        route = normalise_route(method, path)
        with self._lock:
            self.total_requests += 1
            counts = self.routes.setdefault(route, Counter())
            counts["requests"] += 1
            counts[outcome] += 1
            if fault:
                counts[fault] += 1
                self.faults[fault] += 1
            entry: dict[str, Any] = {
                "t": self.clock.time(),
                "method": method.upper(),
                "path": path,
                "status": status,
                "company": company,
            }
            if fault:
                entry["fault"] = fault
            self.log.append(entry)

    def record_webhook(self, outcome: str) -> None:
        with self._lock:
            self.webhooks[outcome] += 1

    def reset(self, quota: bool = False) -> None:
        """Clear counters (and, on request, the quota/rate windows too)."""
        with self._lock:
            self._reset_counters()
            for st in self.companies.values():
                st.max_window = 0
                st.seen.clear()
                st.requests_total = st.rate_limited = st.quota_exceeded = 0
                if quota:
                    st.quota_used = 0
                    st.accepted.clear()

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            today = self.clock.today()
            companies = {}
            for name, st in self.companies.items():
                used = st.quota_used if st.quota_day == today else 0
                companies[name] = {
                    "requests_total": st.requests_total,
                    "requests_today": used,
                    "quota": self.config.daily_quota,
                    "quota_left": max(0, self.config.daily_quota - used) if self.config.daily_quota else None,
                    "rate_limited": st.rate_limited,
                    "quota_exceeded": st.quota_exceeded,
                    "max_requests_in_any_1s_window": st.max_window,
                }
            routes = {}
            for route, counts in sorted(self.routes.items()):
                row = {k: counts.get(k, 0) for k in ("requests", "served", "429", "401", *FAULT_KINDS)}
                row.update({k: v for k, v in counts.items() if k not in row})
                routes[route] = row
            return {
                "total_requests": self.total_requests,
                "routes": routes,
                # Another sandbox may inject kinds of its own (SuiteCRM's 429/503): show them too.
                "faults": {**{k: self.faults.get(k, 0) for k in FAULT_KINDS}, **self.faults},
                "companies": companies,
                "webhooks": dict(self.webhooks),
                "rate_limit": self.config.rate_limit,
                "daily_quota": self.config.daily_quota,
                "fault_rate": self.config.fault_rate,
                "clock_offset_seconds": self.clock.offset_seconds,
                "sandbox_time": self.clock.stamp(),
            }

    def requests(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.log)
