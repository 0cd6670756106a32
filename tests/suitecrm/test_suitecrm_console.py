"""A conflict with a SuiteCRM integration found by "Sincronizar agora" in the console and
resolved there, over real HTTP: the app in a uvicorn thread, the SuiteCRM sandbox on loopback.
The console names the provider ("Usar SuiteCRM"), and the decision reaches SuiteCRM."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
import yaml
from sqlalchemy import select

from crmsync.api.app import create_app
from crmsync.db.local import Cliente
from crmsync.db.session import get_sessionmaker
from crmsync.db.sync import CrmConflito, CrmEntityLink
from crmsync.providers.suitecrm.auth import forget_all_tokens
from crmsync.runtime import EmbeddedRuntime, uninstall_listeners
from crmsync.runtime.queue import reset_queue
from crmsync.sandbox.suitecrm import SuiteCrmSandboxServer
from crmsync.services.integracoes import create_integracao
from crmsync.services.lojas import create_loja

SPEC_CONFIG = yaml.safe_load((Path(__file__).parents[2] / "crmsync/examples/spec-config.yaml").read_text())


@pytest.fixture
def app_url(app_env: dict[str, str]) -> Iterator[str]:
    reset_queue()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app(), log_level="warning", access_log=False, lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "app server did not start"
        time.sleep(0.02)
    # "Sincronizar agora" queues a job (issue #12): one worker thread runs it. Automatic
    # pushes stay off, so what moves data is the button alone, as before.
    uninstall_listeners()
    runtime = EmbeddedRuntime(workers=1, scheduler=False).start()
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    runtime.stop()
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()
    reset_queue()


def _csrf(html: str) -> str:
    marker = 'name="csrf_token" value="'
    start = html.index(marker) + len(marker)
    return html[start : html.index('"', start)]


def test_conflict_found_and_resolved_in_the_console(app_url: str) -> None:
    forget_all_tokens()
    with SuiteCrmSandboxServer(seed=3) as sb:
        sf = get_sessionmaker()
        with sf() as db:
            loja, key = create_loja(db, "Loja Suite")
            integ = create_integracao(
                db,
                loja_id=loja.id,
                provider="suitecrm",
                base_url=sb.base_url,
                credentials={"client_id": sb.client_id, "client_secret": sb.client_secret},
                config={**SPEC_CONFIG["sync_config"], "opcoes_provedor": {"requisicoes_por_segundo": 0}},
            )
            loja_id, integ_id = loja.id, integ.id
            joao = Cliente(id_loja=loja_id, nome="João Silva", email="joao@email.com")
            db.add(joao)
            db.commit()
            joao_id = joao.id
        contact = sb.panel_create("Contacts", {"first_name": "João", "last_name": "Silva", "email1": "joao@email.com"})

        client = httpx.Client(base_url=app_url, follow_redirects=False, timeout=60)
        page = client.get("/console/entrar")
        login = client.post(
            "/console/entrar", data={"api_key": key, "csrf_token": _csrf(page.text), "next": "/console/integracoes"}
        )
        assert login.status_code == 303

        def sync_now() -> str:
            page = client.get("/console/integracoes")
            resp = client.post(f"/console/integracoes/{integ_id}/sincronizar", data={"csrf_token": _csrf(page.text)})
            assert resp.status_code == 303
            return client.get("/console/integracoes").text

        first = sync_now()
        assert "enviado(s) ao SuiteCRM" in first
        with sf() as db:
            link = db.scalars(select(CrmEntityLink).where(CrmEntityLink.entity_id == joao_id)).one()
            assert link.external_id == f"Contacts:{contact['id']}"  # 7.4: linked, no duplicate

        # 7.3: both sides edit nome (manual_se_diferente) -> a pending conflict
        with sf() as db:
            row = db.get(Cliente, joao_id)
            assert row is not None
            row.nome = "João Silva Santos"
            db.commit()
        sb.panel_update("Contacts", contact["id"], {"first_name": "J.", "last_name": "Silva"})
        sync_now()
        with sf() as db:
            conflito = db.scalars(select(CrmConflito).where(CrmConflito.status == "pendente")).one()
            conflito_id = conflito.id
        review = client.get(f"/console/conflitos/{conflito_id}")
        assert "Usar SuiteCRM" in review.text and "J. Silva" in review.text
        decided = client.post(
            f"/console/conflitos/{conflito_id}/resolver", data={"usar": "local", "csrf_token": _csrf(review.text)}
        )
        assert decided.status_code == 303
        got = sb.panel_get("Contacts", contact["id"])
        assert (got["first_name"], got["last_name"]) == ("João", "Silva Santos")
        with sf() as db:
            assert db.get(CrmConflito, conflito_id).status == "resolvido"  # type: ignore[union-attr]
            assert [c.nome for c in db.scalars(select(Cliente).where(Cliente.id_loja == loja_id))] == [
                "João Silva Santos"
            ]
        # Every page speaks of the store's own CRM.
        for url in ("/console/integracoes", "/console/registro", "/console/conflitos?status=todos"):
            text = client.get(url).text
            assert "SuiteCRM" in text and "GestãoClick" not in text.replace("GestãoClick ou SuiteCRM", ""), url
        assert "Ecletech ⇄ SuiteCRM" in client.get("/console/integracoes").text
        client.close()
    forget_all_tokens()
