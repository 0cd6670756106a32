"""Issue #20: every console page with an id or a `pagina` no database can hold (2^63 and
past, forty nines), or a digit that is not ASCII (`²`, `1²`), answers the console's friendly
4xx page, never a 500; and nothing is written.

The walk covers every console route with a path parameter or a page number, as the issue's
report did (26 distinct 500s on the old code)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from crmsync.db.session import get_sessionmaker
from crmsync.db.sync import CrmConflito, CrmDuplicata, CrmItemFalho, CrmSyncLog

from .conftest import AppServer, StoreData, csrf_from, http_login, seed_conflict, seed_duplicate, seed_failed

BAD_IDS = [str(2**63), str(2**64), "9" * 40, "²", "1²", "١"]
BAD_PAGES = [str(2**63), str(2**64), "9" * 40]

ID_ROUTES = [
    ("GET", "/console/conflitos/{}"),
    ("POST", "/console/conflitos/{}/resolver"),
    ("POST", "/console/duplicatas/{}/resolver"),
    ("POST", "/console/falhas/{}/tentar"),
    ("POST", "/console/falhas/{}/ignorar"),
    ("POST", "/console/integracoes/{}/sincronizar"),
]
PAGED = ["/console/conflitos", "/console/duplicatas", "/console/registro"]


def _counts() -> tuple[int, ...]:
    with get_sessionmaker()() as db:
        return tuple(db.query(m).count() for m in (CrmConflito, CrmDuplicata, CrmItemFalho, CrmSyncLog))


@pytest.mark.parametrize("value", BAD_IDS)
def test_ids_no_database_holds_answer_a_friendly_4xx(
    app_server: AppServer, make_store: Callable[..., StoreData], value: str
) -> None:
    store = make_store("Loja Números")
    seed_conflict(store)
    seed_duplicate(store)
    seed_failed(store)
    client = http_login(app_server, store.api_key)
    csrf = csrf_from(client.get("/console/conflitos").text)
    before = _counts()
    for method, template in ID_ROUTES:
        path = template.format(value)
        r = client.request(method, path, data={"csrf_token": csrf, "usar": "local", "acao": "vincular"})
        assert 400 <= r.status_code < 500, (method, path, r.status_code)
        assert "text/html" in r.headers["content-type"]
    assert _counts() == before


@pytest.mark.parametrize("value", BAD_PAGES)
def test_a_page_number_past_any_table_answers_a_friendly_4xx(
    app_server: AppServer, make_store: Callable[..., StoreData], value: str
) -> None:
    store = make_store("Loja Páginas")
    client = http_login(app_server, store.api_key)
    for path in PAGED:
        r = client.get(path, params={"pagina": value})
        assert 400 <= r.status_code < 500, (path, r.status_code)
        assert "Pedido inválido" in r.text
    assert client.get("/console/conflitos", params={"pagina": "2"}).status_code == 200  # an ordinary page still works
