"""Faults against the real sandbox: lost answers never make duplicates, retries stay bounded,
429s honour Retry-After, the daily-quota guard never sends the request that would exceed it."""

from __future__ import annotations

import dataclasses
import itertools
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from gc_helpers import ACCESS, SECRET, cliente, make_cpf
from support.transports import LoseAnswers

from crmsync.mapping.normalize import digits
from crmsync.providers.base import RateLimitedError
from crmsync.providers.gestaoclick import CreateOutcomeUnknownError, GestaoClickProvider
from crmsync.providers.transport import Transport, company_key
from crmsync.sandbox.server import SandboxServer
from crmsync.settings import Settings

Make = Callable[..., GestaoClickProvider]


def test_lost_answers_never_duplicate_a_create(make_provider: Make) -> None:
    """30% of requests fault (500 page, slow past the timeout, dropped connection, create done
    but answer lost); every cliente still exists exactly once."""
    n = 20
    with SandboxServer(rate_limit=0, daily_quota=0, fault_rate=0.3, seed=11, slow_seconds=0.8) as sb:
        provider = make_provider(sb.base_url, timeout=0.5, max_attempts=10, create_attempts=6)
        ids = [provider.create("cliente", cliente(i)).external_id for i in range(n)]
        stats = sb.stats()
        per_cpf = Counter(digits(r["cpf"]) for r in sb.panel_list("clientes"))
    post = stats["routes"]["POST /clientes"]
    assert post["lost_answer"] >= 1, post  # the seed exercises the case that matters
    assert len(set(ids)) == n
    assert per_cpf == Counter({make_cpf(i): 1 for i in range(n)})
    assert provider.stats()["retries"] >= 1


def test_create_without_unique_keys_is_sent_once(make_provider: Make) -> None:
    with SandboxServer(rate_limit=0, daily_quota=0, fault_rate=1.0, seed=5, slow_seconds=2.0) as sb:
        # Every request faults, the look-up by content too: the outcome stays unknown.
        provider = make_provider(sb.base_url, timeout=0.5, create_settle_seconds=0, max_attempts=2)
        with pytest.raises(CreateOutcomeUnknownError) as info:
            provider.create("cliente", {"tipo_pessoa": "PF", "nome": "Sem Documento"})
        assert info.value.request == "POST /clientes"
        assert sb.stats()["routes"]["POST /clientes"]["requests"] == 1


def test_lost_answers_of_creates_without_unique_keys_are_found_by_content(make_provider: Make) -> None:
    """No CPF, no usable e-mail: after a lost answer the record is looked up by its name and
    every field sent, so it exists exactly once, and a namesake with other data already in
    GestãoClick is never taken for it."""
    n = 16
    with SandboxServer(rate_limit=0, daily_quota=0, fault_rate=0.0, seed=21, slow_seconds=0.8) as sb:
        for i in range(0, n, 2):  # namesakes of every other one, with another phone
            sb.panel_create("clientes", {"nome": f"Sem Chave {i}", "tipo_pessoa": "PF", "telefone": "(11) 3000-0000"})
        namesakes = {str(r["id"]) for r in sb.panel_list("clientes")}
        sb.state.config = dataclasses.replace(sb.state.config, fault_rate=0.35)
        provider = make_provider(
            sb.base_url, timeout=0.5, max_attempts=10, create_attempts=6, create_settle_seconds=1.0
        )
        created = {}
        for i in range(n):
            body = {
                "tipo_pessoa": "PF",
                "nome": f"Sem Chave {i}",
                "email": "naotem@gmail.com",
                "celular": f"+55119{i:08d}",
                "cidade": "Campinas",
            }
            created[i] = provider.create("cliente", body).external_id
        post = sb.stats()["routes"]["POST /clientes"]
        sb.state.config = dataclasses.replace(sb.state.config, fault_rate=0.0)
        rows = sb.panel_list("clientes")
    assert post["lost_answer"] >= 1, post  # the seed exercises the case that matters
    ours = Counter(r["nome"] for r in rows if str(r["id"]) not in namesakes)
    assert ours == Counter({f"Sem Chave {i}": 1 for i in range(n)})
    assert not namesakes & set(created.values())
    assert len(set(created.values())) == n


def test_a_lost_create_is_found_among_namesakes_on_later_pages(make_provider: Make) -> None:
    """150 "Consumidor Final" already in GestãoClick: ours, created after them, is on the
    second page of the name filter. Found there, not sent again; with fewer pages allowed
    than there are namesakes the outcome is reported unknown, never guessed."""
    with SandboxServer(rate_limit=0, daily_quota=0, fault_rate=0.0, seed=2) as sb:
        for i in range(150):
            sb.panel_create("clientes", {"nome": "Consumidor Final", "tipo_pessoa": "PF", "cidade": f"Cidade {i}"})
        before = {str(r["id"]) for r in sb.panel_list("clientes")}
        net = LoseAnswers(armed=True)
        provider = make_provider(sb.base_url, http_transport=net, create_settle_seconds=0)
        ours = provider.create("cliente", {"tipo_pessoa": "PF", "nome": "Consumidor Final", "cidade": "Campinas"})
        after_first = {str(r["id"]) for r in sb.panel_list("clientes")}
        ours_now = provider.get("cliente", ours.external_id)

        short_sight = make_provider(sb.base_url, http_transport=LoseAnswers(armed=True), create_settle_seconds=0)
        short_sight.content_lookup_pages = 1
        with pytest.raises(CreateOutcomeUnknownError, match="homônimos demais") as unknown:
            short_sight.create("cliente", {"tipo_pessoa": "PF", "nome": "Consumidor Final", "cidade": "Recife"})
        assert str(unknown.value).count("[POST /clientes]") == 1  # the request named once
        after_second = sb.panel_list("clientes")
    assert not net.armed  # the answer was lost
    assert set(after_first) - before == {ours.external_id}  # created once, and that one is ours
    assert ours_now.data["cidade"] == "Campinas"
    assert len(after_second) == len(after_first) + 1  # created once, not sent again


def test_429_waits_for_retry_after_then_succeeds(make_provider: Make) -> None:
    with SandboxServer(rate_limit=1.0, daily_quota=0, seed=0) as sb:
        provider = make_provider(sb.base_url, max_attempts=6)  # not paced: it will hit the limit
        for _ in range(3):
            provider.list_page("cliente", 1)
        company = sb.stats()["companies"]["empresa-1"]
        log = sb.requests()
    assert company["rate_limited"] >= 1
    assert provider.stats()["rate_limited"] == company["rate_limited"]
    assert provider.stats()["retries"] == company["rate_limited"]
    assert [e["status"] for e in log].count(200) == 3
    for before, after in itertools.pairwise(log):
        if before["status"] == 429:  # sandbox says Retry-After: 1; the retry came no sooner
            assert after["t"] - before["t"] >= 0.95


def test_retry_after_longer_than_allowed_goes_back_to_the_caller(sandbox: SandboxServer, settings: Settings) -> None:
    with (
        SandboxServer(rate_limit=0.2, daily_quota=0) as sb,
        Transport(
            sb.base_url,
            headers={"access-token": ACCESS, "secret-access-token": SECRET},
            budget_key=company_key(ACCESS, SECRET),
            rate_limit_per_second=None,
            settings=settings,
            max_retry_after=1.0,
        ) as transport,
    ):
        assert transport.request("GET", "/clientes").status_code == 200
        with pytest.raises(RateLimitedError) as info:
            transport.request("GET", "/clientes", params={"pagina": 2})
        assert info.value.retry_after is not None and info.value.retry_after > 1.0
        assert not info.value.quota_exhausted
        assert info.value.request == "GET /clientes?pagina=2"
        assert transport.stats()["retries"] == 0


def test_quota_guard_never_sends_the_exceeding_request(
    sandbox: SandboxServer, tmp_path: Path, make_provider: Make
) -> None:
    settings = Settings(data_dir=tmp_path, quota_reserve_share=0.2)
    provider = make_provider(sandbox.base_url, settings=settings, daily_quota=10)  # our share: 8
    for _ in range(8):
        provider.list_page("cliente", 1)
    assert provider.requests_used_today() == 8
    with pytest.raises(RateLimitedError) as info:
        provider.list_page("cliente", 1)
    assert info.value.quota_exhausted and info.value.retry_after is not None and info.value.retry_after > 0
    assert sandbox.stats()["total_requests"] == 8
    # The counter is shared: another process/instance with the same company is refused too.
    other = make_provider(sandbox.base_url, settings=settings, daily_quota=10)
    assert other.requests_used_today() == 8
    with pytest.raises(RateLimitedError):
        other.get("cliente", "1")
    assert sandbox.stats()["total_requests"] == 8
    assert provider.stats()["quota_refused"] == 1
