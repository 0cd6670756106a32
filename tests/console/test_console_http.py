"""Console over plain HTTP (no browser): sign-in, cookie flags, CSRF, store isolation, friendly
errors, and the failed-item buttons. Fast checks that do not need Chromium."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from crmsync.db.session import get_sessionmaker
from crmsync.db.sync import CrmConflito, CrmItemFalho
from crmsync.sandbox.server import SandboxServer
from crmsync.services.integracoes import set_active

from .conftest import (
    AppServer,
    StoreData,
    csrf_from,
    http_login,
    review_row,
    seed_conflict,
    seed_duplicate,
    seed_failed,
    seed_log,
    signed_in_with_a_conflict,
)


def test_pages_need_sign_in_and_redirect_back(app_server: AppServer) -> None:
    with httpx.Client(base_url=app_server.url, timeout=60) as client:
        resp = client.get("/console/registro?status=erro")
        assert resp.status_code == 303
        assert resp.headers["location"] == "/console/entrar?next=%2Fconsole%2Fregistro%3Fstatus%3Derro"
        page = client.get(resp.headers["location"])
        assert page.status_code == 200
        assert "Chave de API da loja" in page.text
        assert '<html lang="pt-BR">' in page.text


def test_sign_in_sets_a_hardened_cookie_and_sign_out_ends_it(
    app_server: AppServer, make_store: Callable[..., StoreData]
) -> None:
    store = make_store("Loja Centro")
    with httpx.Client(base_url=app_server.url, timeout=60) as client:
        form = client.get("/console/entrar")
        bad = client.post("/console/entrar", data={"api_key": "crm_wrong", "csrf_token": csrf_from(form.text)})
        assert bad.status_code == 401
        assert "Chave de API inválida" in bad.text
        ok = client.post(
            "/console/entrar",
            data={"api_key": store.api_key, "csrf_token": csrf_from(bad.text), "next": "https://evil.example/"},
        )
        assert ok.status_code == 303
        assert ok.headers["location"] == "/console/conflitos"  # no open redirect
        cookie = ok.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie and "path=/console" in cookie
        assert store.api_key not in ok.headers["set-cookie"]
        home = client.get("/console/conflitos")
        assert home.status_code == 200 and "Loja Centro" in home.text
        assert "script-src 'self'" in home.headers["content-security-policy"]
        assert home.headers["cache-control"] == "no-store"
        out = client.post("/console/sair", data={"csrf_token": csrf_from(home.text)})
        assert out.status_code == 303
        assert client.get("/console/conflitos").status_code == 303


def test_post_without_or_with_wrong_csrf_is_refused(
    app_server: AppServer, make_store: Callable[..., StoreData]
) -> None:
    store, conflito, client = signed_in_with_a_conflict(app_server, make_store, "Loja CSRF")
    for data in ({"usar": "local"}, {"usar": "local", "csrf_token": "forged"}):
        resp = client.post(f"/console/conflitos/{conflito}/resolver", data=data)
        assert resp.status_code == 403
        assert "Ação não permitida" in resp.text and "Traceback" not in resp.text
    # The sign-in form is protected too (no login CSRF).
    fresh = httpx.Client(base_url=app_server.url, timeout=60)
    assert fresh.post("/console/entrar", data={"api_key": store.api_key}).status_code == 403
    # A signed-out visitor posting a decision is sent to sign in; nothing is applied.
    signed_out = fresh.post(f"/console/conflitos/{conflito}/resolver", data={"usar": "local"})
    assert signed_out.status_code == 303 and signed_out.headers["location"] == "/console/entrar"
    page = client.get(f"/console/conflitos/{conflito}")
    assert "Conflito detectado" in page.text  # nothing was applied


def test_a_store_never_sees_another_stores_rows(app_server: AppServer, make_store: Callable[..., StoreData]) -> None:
    a = make_store("Loja A")
    b = make_store("Loja B", access_token="tok-b", secret="sec-b")
    conflito = seed_conflict(a, nome="Cliente Secreto da Loja A")
    dup = seed_duplicate(a, nome="Duplicata Secreta Da Loja A")
    seed_log(a, 2, mensagem="mensagem-secreta-da-loja-a")
    falha = seed_failed(a)
    client = http_login(app_server, b.api_key)
    for url in ("/console/conflitos", "/console/duplicatas", "/console/registro", "/console/integracoes"):
        text = client.get(url).text
        assert "Secret" not in text and "secreta" not in text, url
    assert client.get(f"/console/conflitos/{conflito}").status_code == 404
    csrf = csrf_from(client.get("/console/conflitos").text)
    assert (
        client.post(f"/console/conflitos/{conflito}/resolver", data={"usar": "local", "csrf_token": csrf}).status_code
        == 404
    )
    assert (
        client.post(f"/console/duplicatas/{dup}/resolver", data={"acao": "descartar", "csrf_token": csrf}).status_code
        == 404
    )
    assert client.post(f"/console/falhas/{falha}/ignorar", data={"csrf_token": csrf}).status_code == 404
    assert (
        client.post(f"/console/integracoes/{a.integracao_id}/sincronizar", data={"csrf_token": csrf}).status_code == 404
    )
    with get_sessionmaker()() as db:
        row = db.get(CrmItemFalho, falha)
        assert row is not None and row.status == "falhou"


def test_errors_are_friendly_pages(app_server: AppServer, make_store: Callable[..., StoreData]) -> None:
    store = make_store("Loja Erros")
    client = http_login(app_server, store.api_key)
    for url in ("/console/conflitos/999999", "/console/conflitos/abc", "/console/nada-aqui"):
        resp = client.get(url)
        assert resp.status_code == 404, url
        assert "Página não encontrada" in resp.text and "Traceback" not in resp.text
    resp = client.get("/console/registro?status=qualquer&de=ontem&pagina=-3")
    assert resp.status_code == 200  # unknown filter values are ignored, not a crash


def test_failed_items_retry_and_ignore(app_server: AppServer, make_store: Callable[..., StoreData]) -> None:
    store = make_store("Loja Falhas")
    retry_id = seed_failed(store, entity_id=71)
    ignore_id = seed_failed(store, entity_id=72)
    client = http_login(app_server, store.api_key)
    page = client.get("/console/registro")
    assert "CPF inválido" in page.text
    csrf = csrf_from(page.text)
    assert client.post(f"/console/falhas/{retry_id}/tentar", data={"csrf_token": csrf}).status_code == 303
    assert client.post(f"/console/falhas/{ignore_id}/ignorar", data={"csrf_token": csrf}).status_code == 303
    with get_sessionmaker()() as db:
        retried = db.get(CrmItemFalho, retry_id)
        ignored = db.get(CrmItemFalho, ignore_id)
        assert retried is not None and retried.status == "pendente" and retried.proxima_tentativa is not None
        assert ignored is not None and ignored.status == "ignorado"
    after = client.get("/console/registro")
    assert "item ignorado" in after.text


def test_static_files_are_our_own(app_server: AppServer) -> None:
    with httpx.Client(base_url=app_server.url, timeout=60) as client:
        js = client.get("/console/static/htmx.min.js")
        assert js.status_code == 200 and "htmx" in js.text[:200]
        assert client.get("/console/static/console.css").status_code == 200
        assert client.get("/console/static/../console.py").status_code == 404


def test_an_unexpected_failure_is_a_friendly_page_not_a_trace(
    app_server: AppServer, make_store: Callable[..., StoreData]
) -> None:
    store = make_store("Loja Quebrada")
    # A row no engine would write (campos must be an object): the page fails while rendering.
    broken = review_row(
        CrmConflito, store, 1, "1", campos=["nome"], dados_local={}, dados_externo={}, status="pendente"
    )
    client = http_login(app_server, store.api_key)
    resp = client.get(f"/console/conflitos/{broken}")
    assert resp.status_code == 500
    assert "Algo deu errado" in resp.text
    assert "Traceback" not in resp.text and "Error" not in resp.text


def test_sync_now_refused_by_the_provider_says_so_in_portuguese(
    app_server: AppServer, make_store: Callable[..., StoreData], worker: None
) -> None:
    with SandboxServer(rate_limit=0, daily_quota=0, access_token="other", secret_access_token="other") as sb:
        store = make_store("Loja Sem Acesso", base_url=sb.base_url)  # its tokens are not the sandbox's
        client = http_login(app_server, store.api_key)
        page = client.get("/console/integracoes")
        assert "Sincronizar agora" in page.text
        resp = client.post(
            f"/console/integracoes/{store.integracao_id}/sincronizar", data={"csrf_token": csrf_from(page.text)}
        )
        assert resp.status_code == 303 and resp.headers["location"] == "/console/integracoes"
        after = client.get("/console/integracoes")
    notice = after.text.split('class="aviso aviso-', 1)[1].split("</div>", 1)[0]
    assert "erro(s) (veja o registro)" in notice  # the run finished; the failures are in the log
    assert "Traceback" not in notice and "Error" not in notice


def test_sync_now_on_a_disabled_integration_is_refused_politely(
    app_server: AppServer, make_store: Callable[..., StoreData], worker: None
) -> None:
    store = make_store("Loja Desativada")
    with get_sessionmaker()() as db:
        set_active(db, store.integracao_id, False)
    client = http_login(app_server, store.api_key)
    page = client.get("/console/integracoes")
    assert "Desativada" in page.text and "disabled" in page.text
    resp = client.post(
        f"/console/integracoes/{store.integracao_id}/sincronizar", data={"csrf_token": csrf_from(page.text)}
    )
    assert resp.status_code == 303
    assert "A integração está desativada" in client.get("/console/integracoes").text


def test_deciding_twice_only_says_it_is_already_resolved(
    app_server: AppServer, make_store: Callable[..., StoreData]
) -> None:
    _store, conflito, client = signed_in_with_a_conflict(app_server, make_store, "Loja Duas Abas")
    page = client.get(f"/console/conflitos/{conflito}")
    csrf = csrf_from(page.text)
    # Bad choices are refused with the reason, nothing applied.
    bad = client.post(f"/console/conflitos/{conflito}/resolver", data={"usar": "tudo", "csrf_token": csrf})
    assert bad.status_code == 422 and "Escolha uma das opções" in bad.text
    merge = client.post(f"/console/conflitos/{conflito}/resolver", data={"usar": "merge", "csrf_token": csrf})
    assert merge.status_code == 422 and "escolha o valor de cada campo: Nome" in merge.text
    with get_sessionmaker()() as db:
        row = db.get(CrmConflito, conflito)
        assert row is not None and row.status == "pendente"
        # Meanwhile another tab (or the CLI) settles it.
        row.status, row.resolvido_por = "resolvido", "cli:loja1"
        row.resolucao = {"usar": "externo", "campos": {"nome": "externo"}}
        db.commit()
    again = client.post(
        f"/console/conflitos/{conflito}/resolver", data={"usar": "local", "csrf_token": csrf}, follow_redirects=True
    )
    assert again.status_code == 200
    assert "Este conflito já foi resolvido" in again.text
    assert "linha de comando da loja 1" in again.text and "J. Silva" in again.text


def test_sign_out_ends_the_session_on_the_server(app_server: AppServer, make_store: Callable[..., StoreData]) -> None:
    """A copy of the cookie taken before "Sair" opens nothing afterwards (issue #12)."""
    store = make_store("Loja Sair")
    client = http_login(app_server, store.api_key)
    home = client.get("/console/conflitos")
    assert home.status_code == 200
    copy = httpx.Client(base_url=app_server.url, follow_redirects=False, timeout=30, cookies=dict(client.cookies))
    assert copy.get("/console/conflitos").status_code == 200  # the copy works while signed in
    assert client.post("/console/sair", data={"csrf_token": csrf_from(home.text)}).status_code == 303
    after = copy.get("/console/conflitos")
    assert after.status_code == 303 and after.headers["location"].startswith("/console/entrar")
    # Signing in again starts a new session, which works.
    again = http_login(app_server, store.api_key)
    assert again.get("/console/conflitos").status_code == 200
