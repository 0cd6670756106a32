"""End to end through the console: the real engine against the GestãoClick sandbox.

A customer is edited on both sides (locally through our REST API, remotely "in the
GestãoClick panel" of the sandbox) with the `nome`/`email` fields configured as manual; a
[Sincronizar agora] click records the conflicts; staff settle one with [Usar Ecletech] and one
with a per-field [Mesclar]; both sides are then read back through their own APIs. Duplicate
suggestions raised by a real pull are linked and dismissed from the console.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from crmsync.db.session import get_sessionmaker
from crmsync.db.sync import CrmDuplicata, CrmEntityLink
from crmsync.engine import RunOptions, SyncEngine
from crmsync.sandbox.server import SandboxServer

from .conftest import DESKTOP, PHONE, AppServer, StoreData, browser_login, shoot

pytestmark = pytest.mark.browser

ACCESS, SECRET = "console-e2e-access", "console-e2e-secret"
MANUAL_CONFIG = {
    "estrategia_padrao": "last_write_wins",
    "campos_especiais": {
        "nome": {"estrategia": "manual_se_diferente", "threshold": 0.5},
        "email": {"estrategia": "manual"},
    },
}


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(
        rate_limit=0, daily_quota=0, fault_rate=0.0, access_token=ACCESS, secret_access_token=SECRET
    ) as sb:
        yield sb


class LocalApi:
    """Our own REST API, as the ERP would call it."""

    def __init__(self, server: AppServer, api_key: str) -> None:
        self.client = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {api_key}"}, timeout=30)

    def create(self, **data: Any) -> dict[str, Any]:
        resp = self.client.post("/api/clientes", json=data)
        assert resp.status_code == 201, resp.text
        return dict(resp.json())

    def update(self, cliente_id: int, **data: Any) -> None:
        resp = self.client.put(f"/api/clientes/{cliente_id}", json=data)
        assert resp.status_code == 200, resp.text

    def get(self, cliente_id: int) -> dict[str, Any]:
        resp = self.client.get(f"/api/clientes/{cliente_id}")
        assert resp.status_code == 200, resp.text
        return dict(resp.json())

    def all(self) -> list[dict[str, Any]]:
        resp = self.client.get("/api/clientes", params={"limit": 100})
        assert resp.status_code == 200, resp.text
        body = resp.json()
        return list(body["registros"])


def _external_id(entity_id: int) -> str:
    with get_sessionmaker()() as db:
        link = db.scalar(
            select(CrmEntityLink).where(CrmEntityLink.entity_type == "cliente", CrmEntityLink.entity_id == entity_id)
        )
        assert link is not None, f"cliente {entity_id} is not linked"
        return link.external_id


def _sync_now(page: Any, server: AppServer) -> str:
    page.goto(server.url + "/console/integracoes")
    page.get_by_role("button", name="Sincronizar agora").click()
    status = page.get_by_role("status").filter(has_text="Sincronização concluída")
    status.wait_for()
    return str(status.inner_text())


def test_conflicts_resolved_in_the_console_reach_both_sides(
    app_server: AppServer,
    sandbox: SandboxServer,
    make_store: Callable[..., StoreData],
    new_page: Callable[..., Any],
    worker: None,
) -> None:
    store = make_store(
        "Loja Ponta a Ponta", base_url=sandbox.base_url, config=MANUAL_CONFIG, access_token=ACCESS, secret=SECRET
    )
    api = LocalApi(app_server, store.api_key)
    joao = api.create(nome="João Silva", email="joao@example.com", telefone="11987654321")
    maria = api.create(nome="Maria Oliveira", email="maria@example.com")
    page = new_page()
    browser_login(page, app_server, store.api_key)

    # First sync: both customers reach the GestãoClick.
    assert "2 enviado(s)" in _sync_now(page, app_server)
    joao_ext, maria_ext = _external_id(joao["id"]), _external_id(maria["id"])
    assert sandbox.panel_get("clientes", joao_ext)["nome"] == "João Silva"

    # Spec 7.3: the same customer edited on both sides before the next sync.
    api.update(joao["id"], nome="João Silva Santos")
    sandbox.panel_update("clientes", joao_ext, {"nome": "J. Silva"})
    api.update(maria["id"], nome="Maria Oliveira Costa", email="maria.costa@example.com")
    sandbox.panel_update("clientes", maria_ext, {"nome": "Mariazinha", "email": "mo@empresa.com.br"})
    assert "2 conflito(s) aguardando decisão" in _sync_now(page, app_server)
    # Nothing was overwritten while waiting for a person.
    assert api.get(joao["id"])["nome"] == "João Silva Santos"
    assert sandbox.panel_get("clientes", joao_ext)["nome"] == "J. Silva"

    # The pending list, then the spec's screen for João.
    page.get_by_role("navigation", name="Principal").get_by_role("link", name=re.compile("Conflitos")).click()
    expect(page.locator("tbody tr")).to_have_count(2)  # count() alone would not wait for the new page
    shoot(page, "e2e-conflitos-desktop")
    page.get_by_role("link", name="Revisar o conflito de João Silva Santos").click()
    group = page.get_by_role("group", name=re.compile("Campo em conflito: Nome"))
    expect(group.get_by_role("radio", name=re.compile("Ecletech.*João Silva Santos"))).to_have_count(1)
    expect(group.get_by_role("radio", name=re.compile("GestãoClick.*J\\. Silva"))).to_have_count(1)
    assert "João Silva" in (group.locator(".lado-base").text_content() or "")
    shoot(page, "e2e-conflito-desktop")
    page.get_by_role("button", name="Usar Ecletech").click()
    page.get_by_role("status").filter(has_text="Conflito resolvido com os valores do Ecletech").wait_for()
    assert page.get_by_role("heading", name="Conflito resolvido").is_visible()
    assert "console da loja" in page.locator(".resultado").inner_text()
    # Both sides, read through their own APIs.
    assert api.get(joao["id"])["nome"] == "João Silva Santos"
    assert sandbox.panel_get("clientes", joao_ext)["nome"] == "João Silva Santos"
    assert api.get(joao["id"])["telefone"] == joao["telefone"]  # untouched fields stay

    # Maria: a per-field merge (name from the GestãoClick, e-mail from the Ecletech), at phone width.
    phone = new_page(PHONE)
    browser_login(phone, app_server, store.api_key)
    phone.get_by_role("link", name="Revisar o conflito de Maria Oliveira Costa").click()
    nome = phone.get_by_role("group", name=re.compile("Campo em conflito: Nome"))
    email = phone.get_by_role("group", name=re.compile("Campo em conflito: E-mail"))
    nome.get_by_role("radio", name=re.compile("GestãoClick.*Mariazinha")).check()
    email.get_by_role("radio", name=re.compile("Ecletech.*maria\\.costa@example\\.com")).check()
    shoot(phone, "e2e-mesclar-celular")
    phone.get_by_role("button", name="Mesclar").click()
    phone.get_by_role("status").filter(has_text="Conflito resolvido com a mesclagem escolhida").wait_for()
    result = phone.locator(".resultado").inner_text()
    assert "Mariazinha" in result and "maria.costa@example.com" in result
    shoot(phone, "e2e-resultado-celular")
    assert phone.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 1  # no sideways scroll
    local = api.get(maria["id"])
    remote = sandbox.panel_get("clientes", maria_ext)
    assert (local["nome"], local["email"]) == ("Mariazinha", "maria.costa@example.com")
    assert (remote["nome"], remote["email"]) == ("Mariazinha", "maria.costa@example.com")

    # No conflict left; the next sync raises none again (the base was updated).
    page.goto(app_server.url + "/console/conflitos")
    assert page.get_by_text("Nenhum conflito aguardando decisão").is_visible()
    assert "0 conflito(s) aguardando decisão" in _sync_now(page, app_server)

    # The log shows who decided, filtered to conflict resolutions.
    page.goto(app_server.url + "/console/registro")
    page.get_by_label("Direção").select_option("conflito")
    page.wait_for_url(re.compile(r"direcao=conflito"))
    results = page.locator("#resultados")
    results.get_by_text(re.compile("resolvido por console:loja")).first.wait_for()
    decided = results.locator("table.registro > tbody > tr").filter(has_text=re.compile("resolvido por console"))
    expect(decided).to_have_count(2)
    results.locator("details.diff summary").first.click()
    assert "Valor do" in results.locator("details.diff").first.inner_text()
    page.set_viewport_size(DESKTOP)
    shoot(page, "e2e-registro-desktop")


def test_duplicates_from_a_real_pull_are_linked_and_dismissed(
    app_server: AppServer, sandbox: SandboxServer, make_store: Callable[..., StoreData], new_page: Callable[..., Any]
) -> None:
    store = make_store("Loja Duplicatas", base_url=sandbox.base_url, access_token=ACCESS, secret=SECRET)
    api = LocalApi(app_server, store.api_key)
    maria = api.create(nome="Maria Aparecida Souza", cidade="Recife")
    joao = api.create(nome="Joao da Silva LTDA")
    maria_ext = str(
        sandbox.panel_create(
            "clientes", {"tipo_pessoa": "PF", "nome": "Maria Aparecida de Souza", "email": "mas@example.com"}
        )["id"]
    )
    joao_ext = str(
        sandbox.panel_create("clientes", {"tipo_pessoa": "PF", "nome": "João da Silva", "email": "js@example.com"})[
            "id"
        ]
    )
    # The scheduled pull (as the runtime runs it) finds the look-alikes and holds them for review.
    engine = SyncEngine.for_store(get_sessionmaker(), store.id, options=RunOptions(trigger="cron"))
    try:
        engine.pull("cliente")
    finally:
        engine.close()
    with get_sessionmaker()() as db:
        pending = {
            d.external_id: d.id
            for d in db.scalars(
                select(CrmDuplicata).where(CrmDuplicata.id_loja == store.id, CrmDuplicata.status == "pendente")
            )
        }
    assert set(pending) == {maria_ext, joao_ext}

    page = new_page()
    browser_login(page, app_server, store.api_key)
    nav = page.get_by_role("navigation", name="Principal")
    nav.get_by_role("link", name=re.compile("Duplicatas")).click()
    cards = page.locator("article.duplicata")
    expect(cards).to_have_count(2)
    maria_card = cards.filter(has_text="Maria Aparecida Souza")
    assert re.search(r"Semelhança:\s*\d+%", maria_card.inner_text())
    assert "nomes parecidos" in maria_card.inner_text()
    assert "Recife" in maria_card.inner_text() and "mas@example.com" in maria_card.inner_text()
    shoot(page, "e2e-duplicatas-desktop")

    maria_card.get_by_role("button", name=re.compile("^Vincular")).click()
    page.get_by_role("status").filter(has_text="registros vinculados").wait_for()
    assert _external_id(maria["id"]) == maria_ext
    assert api.get(maria["id"])["email"] == "mas@example.com"  # merged in, nothing erased
    assert api.get(maria["id"])["cidade"] == "Recife"
    enderecos = sandbox.panel_get("clientes", maria_ext).get("enderecos") or []
    assert [e["endereco"].get("nome_cidade") for e in enderecos] == ["Recife"]

    page.locator("article.duplicata").filter(has_text="Joao da Silva LTDA").get_by_role(
        "button", name=re.compile("^Descartar")
    ).click()
    page.get_by_role("status").filter(has_text="sugestão descartada").wait_for()
    expect(page.get_by_text("Nenhuma sugestão de duplicata aguardando revisão")).to_be_visible()
    names = sorted(c["nome"] for c in api.all())
    assert names.count("Joao da Silva LTDA") == 1 and "João da Silva" in names  # kept apart
    with get_sessionmaker()() as db:
        statuses = {
            d.external_id: (d.status, d.resolvido_por)
            for d in db.scalars(select(CrmDuplicata).where(CrmDuplicata.id_loja == store.id))
        }
    actor = f"console:loja{store.id}"
    assert statuses == {maria_ext: ("vinculado", actor), joao_ext: ("descartado", actor)}
    assert joao["id"] != _external_id_or_none(joao_ext)


def _external_id_or_none(external_id: str) -> int | None:
    with get_sessionmaker()() as db:
        link = db.scalar(select(CrmEntityLink).where(CrmEntityLink.external_id == external_id))
        return link.entity_id if link is not None else None
