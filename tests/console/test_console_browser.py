"""The console in Debian's Chromium, on review rows seeded in the crm_* tables: what staff see
and can do on each page, store isolation, and the screenshots of every page (desktop and
phone width) that the README shows. The end-to-end decisions through the real engine and the
sandbox are in test_console_e2e.py."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from crmsync.db.sync import CrmConflito

from .conftest import (
    DESKTOP,
    PHONE,
    AppServer,
    StoreData,
    browser_login,
    conflict_field,
    review_row,
    seed_conflict,
    seed_duplicate,
    seed_failed,
    seed_log,
    seed_push_errors,
    shoot,
)

pytestmark = pytest.mark.browser


def _two_field_conflict(store: StoreData) -> int:
    now = datetime.now(UTC)
    return seed_conflict(
        store,
        campos={
            "nome": conflict_field(
                ("João Silva", "João Silva Santos", "J. Silva"),
                "both changed; values too different (similarity 0.42)",
                now - timedelta(minutes=40),
                now - timedelta(minutes=35),
            ),
            "email": conflict_field(
                ("joao@example.com", "joao.santos@example.com", "jsilva@example.com"),
                "manual strategy",
                now - timedelta(minutes=40),
                now - timedelta(minutes=35),
            ),
        },
    )


def _seed_everything(store: StoreData) -> dict[str, Any]:
    conflito = _two_field_conflict(store)
    seed_conflict(store, entity_id=451, external_id="99998", nome="Ana Paula Lima", age=timedelta(hours=3))
    now = datetime.now(UTC)
    resolvido = review_row(
        CrmConflito,
        store,
        452,
        "99997",
        campos={
            "nome": conflict_field(("Carlos Souza", "Carlos A. Souza", "Carlos Souza ME"), "manual strategy", now, now),
            "telefone": conflict_field((None, "1133334444", "11999990000"), "manual strategy", now, now),
        },
        dados_local={"nome": "Carlos A. Souza", "telefone": "1133334444"},
        dados_externo={"nome": "Carlos Souza ME", "telefone": "11999990000"},
        status="resolvido",
        resolucao={"usar": "merge", "campos": {"nome": "local", "telefone": "externo"}},
        resolvido_por=f"console:loja{store.id}",
        resolvido_em=now,
    )
    seed_duplicate(store)
    seed_duplicate(store, entity_id=13, external_id="346", score=0.87, nome="Pedro Henrique Alves")
    seed_log(store, 3)
    seed_push_errors(store, 2, "GestãoClick respondeu 422: CPF inválido")
    seed_log(
        store,
        1,
        direcao="conflito",
        tipo="manual",
        operacao="resolve",
        status="sucesso",
        mensagem="Resolvido por console",
        diff={"nome": {"acao": "to_external", "valor": "João Silva Santos"}},
    )
    seed_failed(store, entity_id=77)
    seed_failed(store, entity_id=78, status="pendente")
    return {"conflito": conflito, "resolvido": resolvido}


def test_screenshots_of_every_page(
    app_server: AppServer, make_store: Callable[..., StoreData], new_page: Callable[..., Any]
) -> None:
    store = make_store("Ecletech Loja Centro")
    ids = _seed_everything(store)
    for size, viewport in (("desktop", DESKTOP), ("celular", PHONE)):
        page = new_page(viewport)
        page.goto(app_server.url + "/console/entrar")
        shoot(page, f"entrar-{size}")
        browser_login(page, app_server, store.api_key)
        shoot(page, f"conflitos-{size}")
        page.goto(f"{app_server.url}/console/conflitos/{ids['conflito']}")
        page.get_by_role("heading", name="Conflito detectado").wait_for()
        shoot(page, f"conflito-{size}")
        page.goto(f"{app_server.url}/console/conflitos/{ids['resolvido']}")
        shoot(page, f"conflito-resolvido-{size}")
        page.goto(app_server.url + "/console/duplicatas")
        shoot(page, f"duplicatas-{size}")
        page.goto(app_server.url + "/console/registro")
        page.locator("details.diff").first.locator("summary").click()
        shoot(page, f"registro-{size}")
        page.goto(app_server.url + "/console/integracoes")
        shoot(page, f"integracoes-{size}")
        page.goto(app_server.url + "/console/conflitos/424242")
        shoot(page, f"erro-{size}")
        # Phone width: nothing may scroll sideways.
        if size == "celular":
            for url in (
                "/console/conflitos",
                f"/console/conflitos/{ids['conflito']}",
                "/console/duplicatas",
                "/console/registro",
                "/console/integracoes",
            ):
                page.goto(app_server.url + url)
                overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
                assert overflow <= 1, f"{url} scrolls sideways by {overflow}px at phone width"


def test_conflict_screen_shows_the_three_values_and_what_changed(
    app_server: AppServer, make_store: Callable[..., StoreData], new_page: Callable[..., Any]
) -> None:
    store = make_store("Loja Tela")
    conflito = _two_field_conflict(store)
    page = new_page()
    browser_login(page, app_server, store.api_key)
    row = page.get_by_role("row").filter(has_text="João Silva Santos")
    assert "Nome" in row.inner_text() and "E-mail" in row.inner_text()
    row.get_by_role("link", name=re.compile("Revisar")).click()
    page.wait_for_url(f"**/console/conflitos/{conflito}")
    nome = page.get_by_role("group", name=re.compile("Campo em conflito: Nome"))
    text = nome.text_content() or ""
    for expected in (
        "João Silva",
        "João Silva Santos",
        "J. Silva",
        "Último valor sincronizado",
        "semelhança de 42%",
        "alterado desde a última sincronização",
    ):
        assert expected in text
    # Each side is a labelled radio that carries its value (what a screen reader announces).
    assert nome.get_by_role("radio", name=re.compile("Ecletech.*João Silva Santos")).count() == 1
    assert nome.get_by_role("radio", name=re.compile("GestãoClick.*J\\. Silva")).count() == 1
    # Mesclar with a field left open is stopped by the browser (required radios)...
    page.get_by_role("radio", name=re.compile("Ecletech.*João Silva Santos")).check()
    page.get_by_role("button", name="Mesclar").click()
    assert page.url.endswith(f"/console/conflitos/{conflito}")
    assert page.get_by_role("heading", name="Conflito detectado").is_visible()
    # ...and by the server when the browser check is bypassed.
    page.evaluate("document.querySelectorAll('input[type=radio]').forEach(e => e.required = false)")
    page.get_by_role("button", name="Mesclar").click()
    page.get_by_role("alert").filter(has_text="escolha o valor de cada campo").wait_for()
    assert "E-mail" in page.get_by_role("alert").inner_text()
    # The choice already made is kept on the re-rendered form.
    assert page.get_by_role("radio", name=re.compile("Ecletech.*João Silva Santos")).is_checked()
    # A form without its CSRF token (a forged post) is refused with the friendly 403 page.
    page.evaluate("document.querySelector('form.form-conflito input[name=csrf_token]').remove()")
    with page.expect_response(re.compile(r"/resolver$")) as answer:
        page.get_by_role("button", name="Usar Ecletech").click()
    assert answer.value.status == 403
    page.get_by_role("heading", name="Ação não permitida").wait_for()
    page.goto(f"{app_server.url}/console/conflitos/{conflito}")
    assert page.get_by_role("heading", name="Conflito detectado").is_visible()  # nothing applied


def test_log_filters_and_pagination(
    app_server: AppServer, make_store: Callable[..., StoreData], new_page: Callable[..., Any]
) -> None:
    store = make_store("Loja Registro")
    seed_log(store, 25)  # pull / cron / sucesso
    seed_push_errors(store, 2, "GestãoClick respondeu 422: código duplicado", entity_type="produto")
    old = datetime.now(UTC) - timedelta(days=10)
    seed_log(store, 1, status="ignorado", operacao="skip", criado_em=old, mensagem="registro antigo")
    page = new_page()
    errors: list[str] = []  # CSP violations, failed loads and script errors all land here
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    browser_login(page, app_server, store.api_key)
    page.get_by_role("navigation", name="Principal").get_by_role("link", name="Registro").click()
    page.get_by_role("heading", name=re.compile("Operações")).wait_for()
    assert "(28)" in page.get_by_role("heading", name=re.compile("Operações")).inner_text()
    assert page.get_by_text("Página 1 de 2").is_visible()
    page.get_by_role("link", name="Próxima →").click()
    page.get_by_text("Página 2 de 2").wait_for()
    # Filtering with htmx: choosing a status updates the list in place and the address.
    page.get_by_label("Situação").select_option("erro")
    page.wait_for_url(re.compile(r"/console/registro\?status=erro$"))  # a clean, shareable address
    results = page.locator("#resultados")
    results.get_by_text("código duplicado").first.wait_for()
    assert "(2)" in page.get_by_role("heading", name=re.compile("Operações")).inner_text()
    assert "Sucesso" not in results.locator("tbody").inner_text()
    page.get_by_label("Entidade").select_option("cliente")
    page.wait_for_url(re.compile(r"entidade=cliente"))
    results.get_by_text("Nenhuma operação encontrada").wait_for()
    # Period filter and a diff row.
    page.get_by_role("link", name="Limpar filtros").click()
    page.wait_for_url(re.compile(r"/console/registro$"))
    day = (old.astimezone() - timedelta(days=1)).date().isoformat()
    until = (old + timedelta(days=1)).date().isoformat()
    page.get_by_label("Data inicial").fill(day)
    page.get_by_label("Data final").fill(until)
    page.get_by_role("button", name="Filtrar").click()
    results.get_by_text("registro antigo").wait_for()
    assert "(1)" in page.get_by_role("heading", name=re.compile("Operações")).inner_text()
    page.get_by_role("link", name="Limpar filtros").click()
    page.wait_for_url(re.compile(r"/console/registro$"))
    page.get_by_label("Direção").select_option("pull")
    page.wait_for_url(re.compile(r"direcao=pull"))
    details = page.locator("details.diff").first
    details.locator("summary").click()
    assert "GestãoClick → Ecletech" in details.inner_text() and "11999990000" in details.inner_text()
    page.go_back()  # htmx history restore
    page.wait_for_url(re.compile(r"/console/registro$"))
    assert errors == []


def test_failed_items_buttons(
    app_server: AppServer, make_store: Callable[..., StoreData], new_page: Callable[..., Any]
) -> None:
    store = make_store("Loja Falhas")
    seed_failed(store, entity_id=81)
    seed_failed(store, entity_id=82)
    page = new_page()
    browser_login(page, app_server, store.api_key)
    page.goto(app_server.url + "/console/registro")
    falhas = page.locator("#falhas")
    falhas.get_by_role("button", name="Ignorar: Cliente 82").click()
    page.get_by_role("status").filter(has_text="item ignorado").wait_for()
    assert "#82" not in page.locator("#falhas").inner_text()
    page.locator("#falhas").get_by_role("button", name="Tentar de novo: Cliente 81").click()
    page.get_by_role("status").filter(has_text="nova tentativa").wait_for()
    assert "Aguardando nova tentativa" in page.locator("#falhas").inner_text()


def test_another_store_sees_nothing_and_gets_404(
    app_server: AppServer, make_store: Callable[..., StoreData], new_page: Callable[..., Any]
) -> None:
    a = make_store("Loja Alfa")
    b = make_store("Loja Beta", access_token="tok-b", secret="sec-b")
    conflito = seed_conflict(a, nome="Cliente Exclusivo Alfa")
    seed_duplicate(a, nome="Duplicata Exclusiva Alfa")
    seed_log(a, 3, mensagem="operação exclusiva alfa")
    page = new_page()
    browser_login(page, app_server, b.api_key)
    assert page.get_by_text("Nenhum conflito aguardando decisão").is_visible()
    for url in ("/console/conflitos", "/console/duplicatas", "/console/registro", "/console/integracoes"):
        page.goto(app_server.url + url)
        assert "Alfa" not in page.content(), url
    response = page.goto(f"{app_server.url}/console/conflitos/{conflito}")
    assert response is not None and response.status == 404
    assert page.get_by_role("heading", name="Página não encontrada").is_visible()
    assert "Exclusivo" not in page.content()
    # The first store, signed in beside it, does see its own conflict.
    other = new_page()
    browser_login(other, app_server, a.api_key)
    assert other.get_by_text("Cliente Exclusivo Alfa").is_visible()


def test_sign_in_errors_and_sign_out(
    app_server: AppServer, make_store: Callable[..., StoreData], new_page: Callable[..., Any]
) -> None:
    store = make_store("Loja Entrada")
    page = new_page(PHONE)
    page.goto(app_server.url + "/console/integracoes")
    page.wait_for_url(re.compile(r"/console/entrar\?next="))
    page.get_by_label("Chave de API da loja").fill("crm_chave_errada")
    page.get_by_role("button", name="Entrar").click()
    page.get_by_role("alert").filter(has_text="Chave de API inválida").wait_for()
    page.get_by_label("Chave de API da loja").fill(store.api_key)
    page.get_by_role("button", name="Entrar").click()
    page.wait_for_url("**/console/integracoes")  # back where the user wanted to go
    assert page.get_by_role("heading", name="GestãoClick").is_visible()
    cookie = next(c for c in page.context.cookies() if c["name"] == "crmsync_console")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    page.get_by_role("button", name="Sair").click()
    page.wait_for_url("**/console/entrar")
    page.goto(app_server.url + "/console/conflitos")
    page.wait_for_url(re.compile(r"/console/entrar"))
