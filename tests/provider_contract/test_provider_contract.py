"""The contract every provider passes, written once and run against each provider's sandbox
over real HTTP on loopback: create, get, update, list every page, changed-since or full scan,
delete, unique-key look-up after a lost answer, rate limit, bad answers."""

from __future__ import annotations

from contextlib import closing
from datetime import UTC, datetime, timedelta

import pytest
from contract_sides import HtmlProxy, LoseAnswers, Side, same_values

from crmsync.providers.base import (
    AuthError,
    ChangedSinceListing,
    NotFoundError,
    ProtocolError,
    Provider,
    ProviderError,
    ValidationError,
)
from crmsync.providers.registry import available_providers, display_name


def test_registered_with_a_display_name(side: Side) -> None:
    assert side.name in available_providers()
    assert display_name(side.name) not in ("", side.name)
    with closing(side.provider()) as provider:
        assert isinstance(provider, Provider)
        if provider.capabilities.changed_since_filter:
            assert isinstance(provider, ChangedSinceListing)


def test_create_get_update_round_trip(side: Side) -> None:
    with closing(side.provider()) as provider:
        data = side.cliente(1)
        created = provider.create("cliente", data)
        assert created.external_id and created.version
        assert same_values(data, created.data) == []
        got = provider.get("cliente", created.external_id)
        assert got.external_id == created.external_id and got.data == created.data
        updated = provider.update("cliente", created.external_id, {"cidade": "Campinas", "estado": "SP"}, current=got)
        assert updated.data["cidade"] == "Campinas" and updated.data["estado"] == "SP"
        assert updated.data["nome"] == data["nome"]  # what was not sent is kept
        again = provider.get("cliente", created.external_id)
        assert again.data == updated.data and again.version == updated.version != got.version
        assert side.remote_ids() == {created.external_id}


def test_list_every_page_once(side: Side) -> None:
    side.seed(250)
    with closing(side.provider()) as provider:
        pages = list(provider.iter_pages("cliente"))
        ids = [r.external_id for p in pages for r in p.records]
        assert len(pages) >= 3
        assert len(ids) == len(set(ids))
        assert len(side.mine(set(ids))) == 250
        assert side.mine(set(ids)) == side.remote_ids()
        assert all(not p.errors for p in pages)
        assert pages[-1].next_page is None


def test_changed_since_or_full_scan_sees_a_remote_edit(side: Side) -> None:
    side.seed(120)
    with closing(side.provider()) as provider:
        before = {r.external_id: r.version for p in provider.iter_pages("cliente") for r in p.records}
        target = sorted(side.mine(set(before)))[7]
        since = datetime.now(UTC) - timedelta(seconds=1)
        side.edit_remote(target, "editado@example.com")
        if isinstance(provider, ChangedSinceListing) and provider.capabilities.changed_since_filter:
            seen = {r.external_id: r for p in provider.iter_changed("cliente", since) for r in p.records}
            assert len(seen) < len(before)  # the window, not the store
        else:
            seen = {r.external_id: r for p in provider.iter_pages("cliente") for r in p.records}
        assert seen[target].data["email"] == "editado@example.com"
        assert seen[target].version != before[target]


def test_delete_then_get_is_not_found(side: Side) -> None:
    with closing(side.provider()) as provider:
        created = provider.create("cliente", side.cliente(2))
        provider.delete("cliente", created.external_id)
        with pytest.raises(NotFoundError):
            provider.get("cliente", created.external_id)
        assert created.external_id not in side.remote_ids()


def test_remote_delete_disappears_from_the_listing(side: Side) -> None:
    side.seed(30)
    with closing(side.provider()) as provider:
        ids = sorted(side.mine({r.external_id for p in provider.iter_pages("cliente") for r in p.records}))
        side.delete_remote(ids[3])
        after = {r.external_id for p in provider.iter_pages("cliente") for r in p.records}
        assert side.mine(after) == set(ids) - {ids[3]}
        assert ids[3] not in after
        with pytest.raises(NotFoundError):
            provider.get("cliente", ids[3])


def test_find_by_unique_keys(side: Side) -> None:
    with closing(side.provider()) as provider:
        created = provider.create("cliente", side.cliente(3))
        provider.create("cliente", side.cliente(4))
        by_cpf = provider.find_by_keys("cliente", {"cpf": side.cliente(3)["cpf"]})
        by_email = provider.find_by_keys("cliente", {"email": side.cliente(3)["email"]})
        assert by_cpf is not None and by_cpf.external_id == created.external_id
        assert by_email is not None and by_email.external_id == created.external_id
        assert provider.find_by_keys("cliente", {"email": "ninguem@example.com"}) is None


def test_lost_create_answer_makes_no_duplicate(side: Side) -> None:
    net = LoseAnswers()
    with closing(side.provider(http_transport=net)) as provider:
        net.armed = True
        created = provider.create("cliente", side.cliente(5))
        assert net.lost == 1  # the answer really was lost
        assert side.remote_ids() == {created.external_id}  # found, not sent twice
        assert created.data["email"] == side.cliente(5)["email"]


def test_rate_limit_is_waited_out(side: Side) -> None:
    with side.rate_limited() as (provider, refused):
        for _ in range(6):
            page = provider.list_page("cliente", 1)
            assert page.page == 1
        assert refused() >= 1  # the sandbox did refuse; the provider waited and went on


def test_unknown_id_is_not_found_naming_the_request(side: Side) -> None:
    with closing(side.provider()) as provider:
        created = provider.create("cliente", side.cliente(6))
        provider.delete("cliente", created.external_id)
        with pytest.raises(NotFoundError) as info:
            provider.get("cliente", created.external_id)
        assert info.value.request and "GET " in info.value.request


def test_refused_data_is_a_validation_error(side: Side) -> None:
    with closing(side.provider()) as provider, pytest.raises(ValidationError):
        provider.create("cliente", {"tipo_pessoa": "PF", "nome": ""})


def test_bad_credentials_are_one_auth_error_without_the_secret(side: Side) -> None:
    secret = "wrong-secret-do-not-show-0123"
    creds = (
        {"access_token": "wrong-access", "secret_access_token": secret}
        if side.name == "gestao_click"
        else {"client_id": "sandbox-client", "client_secret": secret}
    )
    with closing(side.provider(credentials=creds)) as provider:
        before = side.requests()
        with pytest.raises(AuthError) as info:
            provider.list_page("cliente", 1)
        assert secret not in str(info.value) and info.value.request
        assert side.requests() - before <= 2  # refused, not retried in a loop


def test_html_from_a_proxy_is_a_clear_error(side: Side) -> None:
    with closing(side.provider(http_transport=HtmlProxy(), max_attempts=1)) as provider:
        with pytest.raises(ProviderError) as info:
            provider.list_page("cliente", 1)
        assert isinstance(info.value, (ProtocolError, AuthError)) or info.value.retriable
        assert "HTML" in str(info.value) or "502" in str(info.value)
        assert info.value.request
