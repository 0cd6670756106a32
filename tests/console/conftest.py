"""Fixtures of the console tests: the real app served by uvicorn on a free port, stores and
integrations created through the real services, review rows seeded in the crm_* tables, and
Debian's Chromium driven by Playwright (never a downloaded browser).

Without /usr/bin/chromium the browser tests skip with the reason on a developer's machine and
fail under CI (CI=true), like the database server tests of the shared conftest.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.live_app import LiveApp
from support.rows import failed_push, gestaoclick_store

from crmsync.db.session import get_sessionmaker
from crmsync.db.sync import CrmConflito, CrmDuplicata, CrmSyncLog
from crmsync.runtime.queue import reset_queue

CHROMIUM = "/usr/bin/chromium"
PAGE_TIMEOUT_MS = 15_000  # a page action or expect() on a loaded CI machine
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
# The committed screenshots (docs/screenshots/) are refreshed on purpose, with
# CRMSYNC_SCREENSHOTS_DIR=docs/screenshots; an ordinary run writes them to a temporary
# directory so running the tests never changes tracked files.
SCREENSHOTS = Path(
    os.environ.get("CRMSYNC_SCREENSHOTS_DIR") or Path(tempfile.gettempdir()) / "crmsync-console-screenshots"
)
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


# ------------------------------------------------------------------------------ server


# The whole FastAPI app (API + console) in a uvicorn thread on a free loopback port.
AppServer = LiveApp


@pytest.fixture
def app_server(app_env: dict[str, str]) -> Iterator[AppServer]:
    reset_queue()  # the runtime state (quota, queue) must be this test's, not a previous one's
    server = AppServer().start()
    yield server
    server.stop()
    reset_queue()


@pytest.fixture
def worker(app_server: AppServer) -> Iterator[None]:
    """One worker thread consuming this test's queue, for the console's "Sincronizar agora"
    (a queued job, issue #12). Automatic pushes after local writes are switched off in these
    tests, so what moves data is the button alone (what the tests are about)."""
    from crmsync.runtime import EmbeddedRuntime, uninstall_listeners

    uninstall_listeners()
    runtime = EmbeddedRuntime(workers=1, scheduler=False).start()
    yield
    runtime.stop()


# ------------------------------------------------------------------------------ data


@dataclass
class StoreData:
    id: int
    nome: str
    api_key: str
    integracao_id: int


@pytest.fixture
def make_store(app_env: dict[str, str]) -> Callable[..., StoreData]:
    """Create a store and its GestãoClick integration through the real services."""

    def make(
        nome: str,
        base_url: str = "http://127.0.0.1:9/",
        config: dict[str, Any] | None = None,
        access_token: str = "tok-a",
        secret: str = "sec-a",
    ) -> StoreData:
        with get_sessionmaker()() as db:
            loja, key, integ = gestaoclick_store(db, nome, base_url, access_token, secret, config)
            return StoreData(id=loja.id, nome=loja.nome, api_key=key, integracao_id=integ.id)

    return make


def add_rows(*rows: Any) -> list[int]:
    with get_sessionmaker()() as db:
        db.add_all(rows)
        db.commit()
        return [r.id for r in rows]


def conflict_field(
    values: tuple[Any, Any, Any], motivo: str, local_em: datetime, externo_em: datetime
) -> dict[str, Any]:
    """One field of a conflict's `campos` as the engine writes it: (base, local, externo) values."""
    base, local, externo = values
    return {
        "base": base,
        "local": local,
        "externo": externo,
        "local_em": local_em.isoformat(),
        "externo_em": externo_em.isoformat(),
        "motivo": motivo,
    }


def review_row(model: Any, store: StoreData, entity_id: int, external_id: str, **fields: Any) -> int:
    """A review row (`CrmConflito`, `CrmDuplicata`) about a cliente of this store's integration: its id."""
    row = model(id_loja=store.id, id_integracao=store.integracao_id, entity_type="cliente", **fields)
    row.entity_id, row.external_id = entity_id, external_id
    return add_rows(row)[0]


def seed_conflict(
    store: StoreData,
    *,
    entity_id: int = 450,
    external_id: str = "99999",
    campos: dict[str, Any] | None = None,
    nome: str = "João Silva Santos",
    age: timedelta = timedelta(minutes=10),
) -> int:
    now = datetime.now(UTC)
    campos = campos or {
        "nome": conflict_field(
            ("João Silva", nome, "J. Silva"), "manual", now - timedelta(minutes=15), now - timedelta(minutes=12)
        ),
    }
    local = {"nome": nome, "email": "joao@example.com", "telefone": "11987654321"}
    externo = {"nome": "J. Silva", "email": "joao@example.com", "telefone": "11987654321"}
    for field, info in campos.items():
        local[field] = info["local"]
        externo[field] = info["externo"]
    return review_row(
        CrmConflito,
        store,
        entity_id,
        external_id,
        campos=campos,
        dados_local=local,
        dados_externo=externo,
        status="pendente",
        criado_em=now - age,
    )


def seed_duplicate(
    store: StoreData,
    *,
    entity_id: int = 12,
    external_id: str = "345",
    score: float = 0.92,
    nome: str = "Maria Aparecida Souza",
) -> int:
    return review_row(
        CrmDuplicata,
        store,
        entity_id,
        external_id,
        score=score,
        motivo="nome parecido",
        dados_local={"nome": nome, "email": "maria@example.com", "cidade": "Campinas"},
        dados_externo={"nome": nome.replace("Souza", "Sousa"), "email": None, "cidade": "Campinas"},
        status="pendente",
    )


def seed_log(store: StoreData, n: int = 3, **kw: Any) -> list[int]:
    now = datetime.now(UTC)
    rows = []
    for i in range(n):
        values: dict[str, Any] = {
            "id_loja": store.id,
            "id_integracao": store.integracao_id,
            "run_id": f"run{i:04d}",
            "tipo": "cron",
            "direcao": "pull",
            "operacao": "update",
            "entity_type": "cliente",
            "entity_id": 100 + i,
            "external_id": str(900 + i),
            "status": "sucesso",
            "mensagem": None,
            "duracao_ms": 12,
            "diff": {"telefone": {"acao": "to_local", "motivo": "external wins", "valor": "11999990000"}},
            "criado_em": now - timedelta(minutes=i),
        }
        values.update(kw)
        rows.append(CrmSyncLog(**values))
    return add_rows(*rows)


def seed_push_errors(store: StoreData, n: int, mensagem: str, **kw: Any) -> list[int]:
    """`n` log rows of a manual create pushed to the CRM and refused with `mensagem`."""
    return seed_log(
        store, n, direcao="push", tipo="manual", operacao="create", status="erro", mensagem=mensagem, diff=None, **kw
    )


def seed_failed(store: StoreData, *, entity_id: int = 77, status: str = "falhou") -> int:
    erro = "GestãoClick respondeu 422: CPF inválido"
    return add_rows(failed_push(store.id, store.integracao_id, entity_id, status, 5, erro))[0]


# ------------------------------------------------------------------------------ HTTP helpers


def csrf_from(html: str) -> str:
    marker = 'name="csrf_token" value="'
    start = html.index(marker) + len(marker)
    return html[start : html.index('"', start)]


def http_login(server: AppServer, api_key: str) -> httpx.Client:
    """A plain HTTP client signed in through the real form (for non-browser checks)."""
    client = httpx.Client(base_url=server.url, follow_redirects=False, timeout=30)
    page = client.get("/console/entrar")
    resp = client.post(
        "/console/entrar", data={"api_key": api_key, "csrf_token": csrf_from(page.text), "next": "/console/conflitos"}
    )
    assert resp.status_code == 303, resp.text
    return client


def signed_in_with_a_conflict(
    server: AppServer, make_store: Callable[..., StoreData], nome: str
) -> tuple[StoreData, int, httpx.Client]:
    """A new store with one pending conflict, and a plain HTTP client signed in to its console."""
    store = make_store(nome)
    conflito = seed_conflict(store)
    return store, conflito, http_login(server, store.api_key)


# ------------------------------------------------------------------------------ browser


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        reason = f"{CHROMIUM} not installed (apt-get install chromium)"
        if IN_CI:
            pytest.fail(reason + " — CI must run the browser tests")
        pytest.skip(reason)
    from playwright.sync_api import expect, sync_playwright

    # expect() retries until its own timeout (5 s by default); a loaded CI machine gets the pages' 15 s.
    expect.set_options(timeout=PAGE_TIMEOUT_MS)
    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def new_page(browser: Any) -> Iterator[Callable[..., Any]]:
    contexts: list[Any] = []

    def make(viewport: dict[str, int] | None = None) -> Any:
        ctx = browser.new_context(viewport=viewport or DESKTOP, locale="pt-BR", timezone_id="America/Sao_Paulo")
        ctx.set_default_timeout(PAGE_TIMEOUT_MS)
        contexts.append(ctx)
        return ctx.new_page()

    yield make
    for ctx in contexts:
        ctx.close()


def browser_login(page: Any, server: AppServer, api_key: str) -> None:
    page.goto(server.url + "/console/entrar")
    page.get_by_label("Chave de API da loja").fill(api_key)
    page.get_by_role("button", name="Entrar").click()
    page.wait_for_url("**/console/conflitos")


def shoot(page: Any, name: str) -> None:
    """Save a full-page screenshot (desktop and phone names) under SCREENSHOTS."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
