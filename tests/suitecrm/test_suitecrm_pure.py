"""Pure parts of the SuiteCRM provider and the kit: attribute mapping round trips, external
ids, minute stamps, the paginator's guards (Hypothesis), and token renewal before expiry."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmsync.model.canonical import canonicalize
from crmsync.providers.base import ProtocolError
from crmsync.providers.kit import PageAnswer, PageNumberPaginator, PageRequest
from crmsync.providers.suitecrm import SuiteCrmProvider
from crmsync.providers.suitecrm import mapping as m
from crmsync.providers.suitecrm.auth import forget_all_tokens
from crmsync.sandbox.suitecrm import SuiteCrmSandboxServer
from crmsync.settings import Settings

MAPPING = m.SuiteMapping("cpf_c", "cnpj_c")
words = st.text(alphabet="abcdefghijklmnopqrstuvwxyzçãé", min_size=1, max_size=12)


@st.composite
def pessoas(draw: st.DrawFn) -> dict[str, object]:
    nome = " ".join(draw(st.lists(words, min_size=1, max_size=4))).title()
    data = {
        "tipo_pessoa": "PF",
        "nome": nome,
        "email": draw(st.one_of(st.none(), st.just(f"{draw(words)}@example.com"))),
        "telefone": draw(st.one_of(st.none(), st.sampled_from(["+551135228899", "+558529945945"]))),
        "cidade": draw(st.one_of(st.none(), words.map(str.title))),
        "cpf": draw(st.one_of(st.none(), st.sampled_from(["52998224725", "85361433209"]))),
    }
    return canonicalize("cliente", data, partial=True)


@given(pessoas())
@settings(max_examples=150, deadline=None)
def test_contact_attributes_round_trip(data: dict[str, object]) -> None:
    attributes = MAPPING.to_attributes(m.CONTACTS, data)
    assert all(isinstance(v, str) for v in attributes.values())  # SuiteCRM holds strings
    back = MAPPING.to_canonical(m.CONTACTS, attributes)
    assert {k: back.get(k) for k in data} == data


@given(st.sampled_from(["cliente", "produto"]), st.uuids())
def test_external_ids_name_their_module(entity: str, bean: object) -> None:
    for module in m.MODULES[entity]:
        ext = m.external_id(module, str(bean))
        assert m.split_external_id(entity, ext) == (module, str(bean))
    with pytest.raises(ValueError):
        m.split_external_id(entity, str(bean))  # an id without its module is refused


def test_stamps_parse_to_utc() -> None:
    assert m.parse_stamp("2026-12-06T02:15:00+00:00") == datetime(2026, 12, 6, 2, 15, tzinfo=UTC)
    assert m.parse_stamp("2026-12-06T00:15:00-02:00") == datetime(2026, 12, 6, 2, 15, tzinfo=UTC)
    assert m.parse_stamp("") is None and m.parse_stamp("ontem") is None


@given(st.lists(st.integers(min_value=0, max_value=5), min_size=1, max_size=30))
def test_paginator_never_reads_a_page_twice(jumps: list[int]) -> None:
    """Whatever a server says the next page is, the listing ends or fails; it never loops."""
    paginator = PageNumberPaginator(page_param="page[number]")
    read: list[int] = []
    try:
        for jump in jumps:
            if not paginator.has_next_page:
                break
            request = PageRequest(path="/x")
            paginator.update_request(request)
            read.append(request.page)
            nxt = request.page + jump - 2 if jump else None  # may point backwards or to itself
            paginator.update_state(PageAnswer(page=request.page, items=[{}], next_page=nxt, request="GET /x"))
    except ProtocolError:
        pass
    assert len(read) == len(set(read))


def test_token_is_renewed_before_it_expires(tmp_path: Path) -> None:
    forget_all_tokens()
    now = [1_000_000.0]
    with SuiteCrmSandboxServer(token_ttl_seconds=600) as sb:
        provider = SuiteCrmProvider(
            sb.base_url,
            credentials={"client_id": sb.client_id, "client_secret": sb.client_secret},
            settings=Settings(data_dir=tmp_path),
            rate_limit_per_second=None,
        )
        provider._auth._clock = lambda: now[0]
        try:
            provider.list_page("cliente", 1)
            now[0] += 530  # 70 s of life left: still used
            provider.list_page("cliente", 1)
            assert provider.tokens_fetched == 1
            now[0] += 20  # 50 s left, within the 60 s margin: renewed before the call
            provider.list_page("cliente", 1)
            assert provider.tokens_fetched == 2
        finally:
            provider.close()
        statuses = [r.get("status") for r in sb.requests()]
        assert 401 not in statuses  # never let it expire on the server
    forget_all_tokens()
