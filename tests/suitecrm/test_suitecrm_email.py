"""An e-mail change of an existing SuiteCRM record really stores, on the stand-in and on the
real SuiteCRM 7.14.6: the new address is the primary one, the old one no longer is. And the
reason the provider needs its own route: a plain PATCH of ``email1`` is ignored by both."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parents[1]))
from suite_world import Target, suite_target

from crmsync.providers.suitecrm import SuiteCrmProvider
from crmsync.settings import Settings

Crm = Target


@pytest.fixture(params=["standin", "real"])
def crm(request: pytest.FixtureRequest) -> Iterator[Crm]:
    yield from suite_target(request.param)


@pytest.fixture
def provider(crm: Crm, tmp_path: Path) -> Iterator[SuiteCrmProvider]:
    p = SuiteCrmProvider(
        crm.base_url, credentials=crm.credentials, settings=Settings(data_dir=tmp_path), rate_limit_per_second=None
    )
    yield p
    p.close()


def _cliente(crm: Crm, email: str, **extra: str) -> dict[str, str]:
    return {"tipo_pessoa": "PF", "nome": f"Email Teste {crm.tag}", "email": email, **extra}


def test_a_plain_patch_of_email1_is_ignored(crm: Crm, provider: SuiteCrmProvider) -> None:
    """The trap itself: PATCH email1 on a record with an address answers 201 with the old one."""
    old, new = f"antigo.{crm.tag}@example.com", f"novo.{crm.tag}@example.com"
    created = provider.create("cliente", _cliente(crm, old))
    bean = created.external_id.partition(":")[2]
    body = {"data": {"type": "Contacts", "id": bean, "attributes": {"email1": new}}}
    response, _desc = provider.send("PATCH", "/Api/V8/module", body=body)
    assert response.status_code == 201
    assert response.json()["data"]["attributes"]["email1"] == old
    assert provider.get("cliente", created.external_id).data["email"] == old
    assert crm.email_rows("Contacts", bean) == [(old, 1)]


@pytest.mark.parametrize("tipo", ["PF", "PJ"])
def test_email_change_of_an_existing_record_stores(crm: Crm, provider: SuiteCrmProvider, tipo: str) -> None:
    old, new = f"antigo.{crm.tag}@example.com", f"novo.{crm.tag}@example.com"
    data = _cliente(crm, old, tipo_pessoa=tipo)
    created = provider.create("cliente", data)
    module, _, bean = created.external_id.partition(":")
    assert module == ("Accounts" if tipo == "PJ" else "Contacts")
    current = provider.get("cliente", created.external_id)

    answer = provider.update("cliente", created.external_id, {"email": new, "cidade": "Recife"}, current=current)

    assert answer.data["email"] == new and answer.data["cidade"] == "Recife"  # the CRM's answer says so
    again = provider.get("cliente", created.external_id)
    assert again.data["email"] == new and again.data["cidade"] == "Recife"  # and it stays
    assert crm.email_rows(module, bean) == [(new, 1)]  # new is primary; old is no longer linked
    found = provider.find_by_keys("cliente", {"email": new})
    assert found is not None and found.external_id == created.external_id


def test_email_change_keeps_alternate_addresses(crm: Crm, provider: SuiteCrmProvider) -> None:
    old, alt, new = (f"{p}.{crm.tag}@example.com" for p in ("antigo", "alternativo", "novo"))
    created = provider.create("cliente", _cliente(crm, old))
    bean = created.external_id.partition(":")[2]
    # An alternate address added in SuiteCRM (the relationship, as its screens do).
    alt_id = _address_id(provider, crm, alt)
    provider.send(
        "POST",
        f"/Api/V8/module/Contacts/{bean}/relationships/email_addresses",
        body={"data": {"type": "EmailAddresses", "id": alt_id}},
    )
    assert sorted(crm.email_rows("Contacts", bean)) == sorted([(old, 1), (alt, 0)])

    answer = provider.update(
        "cliente", created.external_id, {"email": new}, current=provider.get("cliente", created.external_id)
    )

    assert answer.data["email"] == new
    assert sorted(crm.email_rows("Contacts", bean)) == sorted([(new, 1), (alt, 0)])


def test_email_set_on_a_record_without_one_is_one_patch(crm: Crm, provider: SuiteCrmProvider) -> None:
    created = provider.create("cliente", {"tipo_pessoa": "PF", "nome": f"Sem Email {crm.tag}"})
    current = provider.get("cliente", created.external_id)
    before = provider.stats()["requests_sent"]
    answer = provider.update(
        "cliente", created.external_id, {"email": f"primeiro.{crm.tag}@example.com"}, current=current
    )
    assert answer.data["email"] == f"primeiro.{crm.tag}@example.com"
    assert provider.stats()["requests_sent"] - before == 1
    assert crm.email_rows("Contacts", created.external_id.partition(":")[2]) == [(f"primeiro.{crm.tag}@example.com", 1)]


def _address_id(provider: SuiteCrmProvider, crm: Crm, address: str) -> str:
    """An EmailAddress record for `address`: made on a throwaway contact, then read back."""
    other = provider.create("cliente", {"tipo_pessoa": "PF", "nome": f"Outro {crm.tag}", "email": address})
    bean = other.external_id.partition(":")[2]
    response, _ = provider.send("GET", f"/Api/V8/module/Contacts/{bean}/relationships/email_addresses")
    items = response.json()["data"]
    assert isinstance(response, httpx.Response) and len(items) == 1
    return str(items[0]["id"])
