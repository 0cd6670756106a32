"""SuiteCrmProvider against the SuiteCRM sandbox over real HTTP: the token life cycle, ties on
minute stamps across pages, custom fields an installation lacks, JSON:API errors, products,
and per-provider config validation."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from crmsync.config import ConfigError, parse_config
from crmsync.providers.base import AuthError, NotFoundError, ProtocolError, ValidationError
from crmsync.providers.registry import validate_options
from crmsync.providers.suitecrm import SuiteCrmProvider
from crmsync.providers.suitecrm.auth import forget_all_tokens
from crmsync.sandbox.suitecrm import SuiteCrmSandboxServer
from crmsync.settings import Settings

Make = Callable[..., SuiteCrmProvider]


def _token_requests(sb: SuiteCrmSandboxServer) -> int:
    return sum(v["requests"] for k, v in sb.stats()["routes"].items() if "access_token" in k)


def test_one_token_serves_the_integration_and_a_401_renews_it_once(
    suite: SuiteCrmSandboxServer, make_suite_provider: Make
) -> None:
    first = make_suite_provider(suite)
    first.list_page("cliente", 1)
    second = make_suite_provider(suite)  # the next job of the same integration
    second.list_page("cliente", 1)
    assert _token_requests(suite) == 1  # kept per integration, not fetched per provider
    suite.expire_tokens()  # the server forgot it (expired early, restarted, clock skew)
    suite.reset_stats()
    page = second.list_page("cliente", 1)
    assert page.page == 1
    statuses = [r.get("status") for r in suite.requests()]
    assert statuses.count(401) == 1 and _token_requests(suite) == 1  # renewed once, call repeated once


def test_revoked_secret_is_one_auth_error_naming_the_token_request(
    suite: SuiteCrmSandboxServer, make_suite_provider: Make
) -> None:
    provider = make_suite_provider(suite)
    provider.list_page("cliente", 1)
    suite.state.config.client_secret = "rotated-by-the-admin"
    suite.revoke_tokens()
    suite.reset_stats()
    with pytest.raises(AuthError) as info:
        provider.list_page("cliente", 1)
    message = str(info.value)
    assert "invalid_client" in message and "POST /Api/access_token" in message
    assert suite.client_id not in message or "client_id" in message
    assert "sandbox-client-secret" not in message and "rotated-by-the-admin" not in message
    assert suite.stats()["total_requests"] == 2  # the refused call and one token request: no loop


def test_ties_on_one_minute_across_pages_are_read_once(suite: SuiteCrmSandboxServer, make_suite_provider: Make) -> None:
    """250 records share one minute stamp (a bulk import); the sandbox orders ties differently
    on every read, as MySQL may. The changed-since listing sorts by id: each record once."""
    stamp = (datetime.now(UTC) - timedelta(hours=1)).replace(second=0, microsecond=0)
    rows = [
        {"first_name": "Empate", "last_name": str(i), "email1": f"e{i}@x.com", "date_modified": stamp.isoformat()}
        for i in range(250)
    ]
    suite.store.bulk_create("Contacts", rows)
    provider = make_suite_provider(suite, config=parse_config({"opcoes_provedor": {"tamanho_pagina": 40}}))
    ids: list[str] = []
    for page in provider.iter_changed("cliente", stamp + timedelta(seconds=30)):
        ids += [r.external_id for r in page.records]
        if len(ids) == 120:  # records change while the listing runs
            for row in suite.store.list_all("Contacts")[:5]:
                suite.panel_update("Contacts", row["id"], {"phone_work": "(11) 3522-8899"})
    assert len(ids) == len(set(ids)) == 250


def test_custom_field_the_installation_lacks_is_a_clear_error() -> None:
    forget_all_tokens()
    with SuiteCrmSandboxServer(custom_fields={"Contacts": [], "Accounts": ["cnpj_c"]}) as sb:
        sb.store.bulk_create("Contacts", [{"first_name": "Sem", "last_name": "CPF"}])
        provider = SuiteCrmProvider(
            sb.base_url,
            credentials={"client_id": sb.client_id, "client_secret": sb.client_secret},
            rate_limit_per_second=None,
        )
        try:
            with pytest.raises(ProtocolError) as listing:
                list(provider.iter_pages("cliente"))
            assert "cpf_c" in str(listing.value) and "GET /Api/V8/module/Contacts" in str(listing.value)
            with pytest.raises(ValidationError) as create:
                provider.create("cliente", {"tipo_pessoa": "PF", "nome": "Ana Lima", "cpf": "52998224725"})
            assert "cpf_c" in str(create.value) and "POST /Api/V8/module" in str(create.value)
            assert sb.store.count("Contacts") == 1  # nothing half-created
        finally:
            provider.close()
    forget_all_tokens()


def test_json_api_error_body_is_read_and_names_the_request(
    suite: SuiteCrmSandboxServer, make_suite_provider: Make
) -> None:
    provider = make_suite_provider(suite)
    with pytest.raises(NotFoundError) as info:  # SuiteCRM: 400 with {"errors": {"detail": ...}}
        provider.update("cliente", "Contacts:11111111-2222-3333-4444-555555555555", {"cidade": "Recife"})
    message = str(info.value)
    assert "Contacts module with id 11111111-2222-3333-4444-555555555555 is not found" in message
    assert message.endswith("[PATCH /Api/V8/module]")
    with pytest.raises(ValidationError) as refused:
        provider.create("cliente", {"tipo_pessoa": "PF", "nome": "Ana", "email": "isto não é e-mail"})
    assert "email" in str(refused.value)


def test_produto_round_trip(suite: SuiteCrmSandboxServer, make_suite_provider: Make) -> None:
    provider = make_suite_provider(suite)
    created = provider.create(
        "produto", {"nome": "Caneta azul", "codigo": "CAN-01", "valor_venda": "2.5000", "valor_custo": "1.1000"}
    )
    assert created.external_id.startswith("AOS_Products:")
    raw = suite.panel_get("AOS_Products", created.external_id.split(":", 1)[1])
    assert raw["part_number"] == "CAN-01" and raw["price"].startswith("2.5")
    updated = provider.update("produto", created.external_id, {"valor_venda": "3.0000"}, current=created)
    assert updated.data["valor_venda"] == "3.0000" and updated.data["codigo"] == "CAN-01"
    found = provider.find_by_keys("produto", {"codigo": "CAN-01"})
    assert found is not None and found.external_id == created.external_id
    with pytest.raises(ValueError, match="venda"):
        provider.create("venda", {"cliente_id": "1", "data": "2025-01-01"})


def test_patch_sends_only_what_changed(suite: SuiteCrmSandboxServer, make_suite_provider: Make) -> None:
    provider = make_suite_provider(suite)
    created = provider.create("cliente", {"tipo_pessoa": "PF", "nome": "Rita Alves", "email": "rita@x.com"})
    suite.reset_stats()
    provider.update("cliente", created.external_id, {"email": "rita@x.com", "cidade": "Natal"}, current=created)
    patches = [r for r in suite.requests() if r.get("method") == "PATCH"]
    assert len(patches) == 1
    body = patches[0].get("body") or patches[0].get("json") or {}
    if body:  # the sandbox logs bodies: only the changed attribute travelled
        assert set(body["data"]["attributes"]) == {"primary_address_city"}
    suite.reset_stats()
    same = provider.update("cliente", created.external_id, {"email": "rita@x.com"}, current=created)
    assert same.external_id == created.external_id and suite.stats()["total_requests"] == 0  # nothing to send


def test_options_are_validated_by_the_provider() -> None:
    assert validate_options("suitecrm", {"campo_cpf": "documento_c"})["campo_cpf"] == "documento_c"
    with pytest.raises(ConfigError, match=r"opcoes_provedor\.campo_cpf"):
        validate_options("suitecrm", {"campo_cpf": "não é campo"})
    with pytest.raises(ConfigError, match=r"opcoes_provedor\.desconhecida"):
        validate_options("suitecrm", {"desconhecida": 1})
    with pytest.raises(ConfigError, match="GestãoClick não tem opções"):
        validate_options("gestao_click", {"campo_cpf": "cpf_c"})


class _AnswersAnotherModule(httpx.BaseTransport):
    """Between us and SuiteCRM: a GET of one Contact comes back as an Account (a record whose
    module changed under the same id, or a confused proxy cache)."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if request.method == "GET" and "/module/Contacts/" in request.url.path:
            body = json.loads(response.read())
            body["data"]["type"] = "Account"
            return httpx.Response(response.status_code, headers={"content-type": "application/vnd.api+json"}, json=body)
        return response


def test_a_record_answered_from_another_module_is_refused(
    suite: SuiteCrmSandboxServer, make_suite_provider: Make
) -> None:
    plain = make_suite_provider(suite)
    created = plain.create("cliente", {"tipo_pessoa": "PF", "nome": "Davi Nunes", "email": "davi@x.com"})
    provider = make_suite_provider(suite, http_transport=_AnswersAnotherModule())
    with pytest.raises(ProtocolError) as info:
        provider.get("cliente", created.external_id)
    assert "mudou de módulo" in str(info.value) and info.value.request


def test_configured_pace_keeps_under_a_proxy_limit(settings: Settings) -> None:
    """No documented limit, but a proxy may enforce one: the integration's pace
    (requisicoes_por_segundo) keeps every request under it, none refused."""
    forget_all_tokens()
    with SuiteCrmSandboxServer(rate_limit=2.0) as sb:
        config = parse_config({"opcoes_provedor": {"requisicoes_por_segundo": 1.8}})
        provider = SuiteCrmProvider(
            sb.base_url,
            credentials={"client_id": sb.client_id, "client_secret": sb.client_secret},
            config=config,
            settings=settings,
        )
        try:
            assert provider.capabilities.rate_limit_per_second == 1.8
            for _ in range(6):
                provider.list_page("cliente", 1)
        finally:
            provider.close()
        company = next(iter(sb.stats()["companies"].values()))
        assert company["rate_limited"] == 0 and company["max_requests_in_any_1s_window"] <= 2
    forget_all_tokens()
