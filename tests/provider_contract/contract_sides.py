"""The provider contract's sides: one `Side` per provider, each a real provider talking to
its real sandbox over HTTP on loopback. A test written against `Side` runs for every provider;
a new provider adds one `Side` here and passes the same tests."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from real_suitecrm import RealSuite
from support.documents import make_cpf, pf_cliente
from support.transports import LoseAnswers

from crmsync.mapping import normalize as n
from crmsync.providers.base import Provider
from crmsync.providers.gestaoclick import GestaoClickProvider
from crmsync.providers.suitecrm import SuiteCrmProvider
from crmsync.sandbox.server import SandboxServer
from crmsync.sandbox.suitecrm import SuiteCrmSandboxServer
from crmsync.settings import Settings

GC_CREDENTIALS = {"access_token": "sandbox-access-token", "secret_access_token": "sandbox-secret-token"}


def cliente(i: int, **extra: Any) -> dict[str, Any]:
    """A canonical PF cliente every provider can hold."""
    return pf_cliente(i, "Contrato", "contrato", **extra)


class HtmlProxy(httpx.BaseTransport):
    """A misconfigured proxy in front of the CRM: every API answer is its HTML error page."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            502, headers={"content-type": "text/html"}, content=b"<html><body><h1>502 Bad Gateway</h1></body></html>"
        )


class Side:
    """What the contract needs from one provider and its sandbox."""

    name: str
    # The real system: no fault injection, and shared by the run (tests see their own records).
    real = False

    def cliente(self, i: int, **extra: Any) -> dict[str, Any]:
        """The i-th canonical cliente of this test (unique keys per test on a shared system)."""
        return cliente(i, **extra)

    def mine(self, ids: set[str]) -> set[str]:
        """The ids among `ids` this test made (all of them on a sandbox of its own)."""
        return ids

    def provider(self, **kwargs: Any) -> Provider:
        raise NotImplementedError

    def seed(self, count: int) -> None:
        """`count` clientes written straight into the sandbox (no API)."""
        raise NotImplementedError

    def remote_ids(self) -> set[str]:
        """External ids of every live cliente, as the provider spells them."""
        raise NotImplementedError

    def edit_remote(self, external_id: str, email: str) -> None:
        raise NotImplementedError

    def delete_remote(self, external_id: str) -> None:
        raise NotImplementedError

    def rate_limited(self) -> AbstractContextManager[tuple[Provider, Callable[[], int]]]:
        """A provider whose sandbox answers 429 with Retry-After, and how many it sent."""
        raise NotImplementedError

    def requests(self) -> int:
        raise NotImplementedError


class GestaoClickSide(Side):
    name = "gestao_click"

    def __init__(self, sb: SandboxServer, settings: Settings) -> None:
        self.sb = sb
        self.settings = settings
        self.opened: list[Provider] = []

    def provider(self, **kwargs: Any) -> Provider:
        kwargs.setdefault("credentials", GC_CREDENTIALS)
        kwargs.setdefault("settings", self.settings)
        kwargs.setdefault("rate_limit_per_second", None)
        kwargs.setdefault("daily_quota", None)
        kwargs.setdefault("create_settle_seconds", 0)
        provider = GestaoClickProvider(self.sb.base_url, **kwargs)
        self.opened.append(provider)
        return provider

    def seed(self, count: int) -> None:
        bodies = [
            {"tipo_pessoa": "PF", "nome": f"Semente {i}", "email": f"semente{i}@example.com"} for i in range(count)
        ]
        self.sb.store.bulk_create("clientes", bodies)

    def remote_ids(self) -> set[str]:
        return {str(r["id"]) for r in self.sb.panel_list("clientes")}

    def edit_remote(self, external_id: str, email: str) -> None:
        self.sb.panel_update("clientes", external_id, {"email": email})

    def delete_remote(self, external_id: str) -> None:
        self.sb.panel_delete("clientes", external_id)

    @contextmanager
    def rate_limited(self) -> Iterator[tuple[Provider, Callable[[], int]]]:
        with SandboxServer(rate_limit=2, daily_quota=0, fault_rate=0.0, seed=0) as sb:
            provider = GestaoClickProvider(
                sb.base_url,
                credentials=GC_CREDENTIALS,
                settings=self.settings,
                rate_limit_per_second=None,
                daily_quota=None,
            )
            try:
                yield provider, lambda: int(sb.stats()["companies"]["empresa-1"].get("rate_limited", 0))
            finally:
                provider.close()

    def requests(self) -> int:
        return int(self.sb.stats()["total_requests"])


class SuiteCrmSide(Side):
    name = "suitecrm"

    def __init__(self, sb: SuiteCrmSandboxServer, settings: Settings) -> None:
        self.sb = sb
        self.settings = settings

    def provider(self, **kwargs: Any) -> Provider:
        kwargs.setdefault("credentials", {"client_id": self.sb.client_id, "client_secret": self.sb.client_secret})
        kwargs.setdefault("settings", self.settings)
        kwargs.setdefault("rate_limit_per_second", None)
        kwargs.pop("create_settle_seconds", None)
        return SuiteCrmProvider(self.sb.base_url, **kwargs)

    def seed(self, count: int) -> None:
        stamp = (datetime.now(UTC) - timedelta(days=2)).isoformat()  # old records, as a store has
        rows = [
            {"first_name": "Semente", "last_name": str(i), "email1": f"semente{i}@example.com", "date_modified": stamp}
            for i in range(count)
        ]
        self.sb.store.bulk_create("Contacts", rows)

    def remote_ids(self) -> set[str]:
        return {f"{m}:{r['id']}" for m in ("Contacts", "Accounts") for r in self.sb.store.list_all(m)}

    def edit_remote(self, external_id: str, email: str) -> None:
        module, _, bean = external_id.partition(":")
        self.sb.panel_update(module, bean, {"email1": email})

    def delete_remote(self, external_id: str) -> None:
        module, _, bean = external_id.partition(":")
        self.sb.panel_delete(module, bean)

    @contextmanager
    def rate_limited(self) -> Iterator[tuple[Provider, Callable[[], int]]]:
        provider = self.provider()
        provider.get  # noqa: B018  (the provider exists before the faults are queued)
        self.sb.queue_fault("http_429", times=2, path_prefix="/Api/V8")
        self.sb.queue_fault("http_503", times=1, path_prefix="/Api/V8")
        try:
            yield (
                provider,
                lambda: sum(int(v) for k, v in self.sb.stats()["faults"].items() if "429" in k or "503" in k),
            )
        finally:
            provider.close()

    def requests(self) -> int:
        return int(self.sb.stats()["total_requests"])


class CountRequests(httpx.BaseTransport):
    """Counts what reaches the server (the real SuiteCRM keeps no request statistics)."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.count = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.count += 1
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


class RealSuiteCrmSide(Side):
    """The real SuiteCRM 7.14.6 (``real_suitecrm``): records tagged per test, seeded and edited
    in its database the way its screens would."""

    name = "suitecrm"
    real = True

    def __init__(self, real: RealSuite, settings: Settings) -> None:
        self.real_suite = real
        self.settings = settings
        self.counter = CountRequests()
        self.opened: list[Provider] = []
        self._cpf_base = random.randrange(10**6, 10**8)

    def cliente(self, i: int, **extra: Any) -> dict[str, Any]:
        tag = self.real_suite.tag
        return cliente(
            i,
            nome=f"Cliente Contrato {i} {tag}",
            cpf=make_cpf(self._cpf_base + i),
            email=f"contrato{i}.{tag}@example.com",
            **extra,
        )

    def mine(self, ids: set[str]) -> set[str]:
        return ids & self.real_suite.my_ids()

    def provider(self, **kwargs: Any) -> Provider:
        kwargs.setdefault("credentials", self.real_suite.credentials)
        kwargs.setdefault("settings", self.settings)
        kwargs.setdefault("rate_limit_per_second", None)
        kwargs.setdefault("http_transport", self.counter)
        kwargs.pop("create_settle_seconds", None)
        provider = SuiteCrmProvider(self.real_suite.base_url, **kwargs)
        self.opened.append(provider)
        return provider

    def seed(self, count: int) -> None:
        self.real_suite.seed_contacts(count, datetime.now(UTC) - timedelta(days=2))

    def remote_ids(self) -> set[str]:
        return self.real_suite.my_ids()

    def edit_remote(self, external_id: str, email: str) -> None:
        self.real_suite.edit_email_in_screens(external_id.partition(":")[2], email)

    def delete_remote(self, external_id: str) -> None:
        self.real_suite.delete_in_screens(external_id)

    def rate_limited(self) -> AbstractContextManager[tuple[Provider, Callable[[], int]]]:
        pytest.skip("the real SuiteCRM has no rate limit to provoke (the stand-in's 429/503 cover it)")

    def requests(self) -> int:
        return self.counter.count


def same_values(sent: dict[str, Any], got: dict[str, Any]) -> list[str]:
    """Fields the provider holds whose value differs from what was sent (canonical spelling)."""
    wrong = []
    for key, value in sent.items():
        if key in got and got[key] != value and not (key in ("cpf", "cnpj") and n.digits(got[key]) == value):
            wrong.append(f"{key}: sent {value!r}, got {got[key]!r}")
    return wrong


__all__ = [
    "GestaoClickSide",
    "HtmlProxy",
    "LoseAnswers",
    "RealSuiteCrmSide",
    "Side",
    "SuiteCrmSide",
    "cliente",
    "same_values",
]
