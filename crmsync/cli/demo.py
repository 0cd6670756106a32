"""`crmsync demo`: everything running on one machine in a few seconds, and what it did.

Starts the GestãoClick sandbox (sample customers and products, signed webhooks to us) and
the API + console + embedded worker and scheduler on free local ports; creates a store and
its integration through the same services as the CLI; runs a first two-way sync; then
makes one change on each side and one conflict, waits until each has propagated by the
normal paths (automatic push after a save; webhook -> pull of that record), and prints it
all in Portuguese with the console URL and the store's API key.

It uses the default SQLite files of the current directory. Integrations of earlier demo
stores (which point at sandboxes that no longer run) are switched off first so the
scheduler does not keep calling dead ports.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import socket
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import uvicorn
from sqlalchemy import select, update

from crmsync.api.app import create_app
from crmsync.cli.admin import migrate
from crmsync.db.local import Cliente, Loja
from crmsync.db.session import get_sessionmaker, session_scope
from crmsync.db.sync import CrmConflito, CrmEntityLink, CrmIntegracao
from crmsync.db.types import utcnow
from crmsync.engine import RunOptions, SyncEngine
from crmsync.runtime import install_listeners, wait_dispatched
from crmsync.runtime.embedded import EmbeddedRuntime
from crmsync.runtime.queue import get_state
from crmsync.sandbox.server import SandboxServer
from crmsync.services.integracoes import create_integracao
from crmsync.services.local_data import create_record, update_record
from crmsync.services.lojas import create_loja
from crmsync.settings import get_settings

DEMO_STORE = "Loja Demo (crmsync demo)"
WAIT_SECONDS = 45.0


class DemoError(Exception):
    """A step of the demo could not be done (message in Portuguese, for the user)."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _propagation(local_id: int, ext_id: str, ok: object, started: float) -> tuple[dict[str, Any], float]:
    """What the demo reports of one edit's trip (and the seconds it took, from ``started``)."""
    took = time.monotonic() - started
    return {"cliente": local_id, "external_id": ext_id, "propagou": bool(ok), "segundos": round(took, 2)}, took


def _wait(predicate: Callable[[], Any], timeout: float = WAIT_SECONDS, step: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = predicate()
        except Exception:
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            return None
        time.sleep(step)


class _ApiServer:
    """uvicorn on a background thread (the host process keeps its own signal handling).

    The listening socket is bound when the object is made (port 0: a free one, read back
    into `port`), so the port is ours from then on: a port picked free and bound later could
    be taken in between by another process (parallel tests, another demo). The app itself is
    built by `start`."""

    def __init__(self, port: int = 0) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind(("127.0.0.1", port))
        self.port = int(self.socket.getsockname()[1])
        self.server: uvicorn.Server | None = None
        self.thread: threading.Thread | None = None

    def start(self, timeout: float = 60.0) -> None:
        config = uvicorn.Config(create_app(), log_level="warning", access_log=False, lifespan="on")
        server = self.server = uvicorn.Server(config)
        thread = self.thread = threading.Thread(
            target=server.run, kwargs={"sockets": [self.socket]}, name="crmsync-demo-api", daemon=True
        )
        thread.start()
        if not _wait(lambda: server.started or not thread.is_alive(), timeout) or not server.started:
            raise DemoError(f"a API não subiu na porta {self.port}")

    def stop(self) -> None:
        if self.server is not None:
            self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(10)
        self.socket.close()


def run_demo(*, once: bool, port: int = 0, sandbox_port: int = 0, clientes: int = 20, as_json: bool = False) -> int:
    say: Callable[[str], None] = (lambda _m: None) if as_json else (lambda m: print(m, flush=True))
    settings = get_settings()
    try:
        db_url = migrate()
    except Exception as exc:
        raise DemoError(f"não foi possível preparar o banco: {exc}") from None
    api = _ApiServer(port)  # the API's socket, bound now: its port goes into the webhook URL
    api_port = api.port
    sb_port = sandbox_port or _free_port()
    access, secret = "demo-" + secrets.token_hex(8), "demo-" + secrets.token_hex(16)
    say("crmsync demo — sincronização bidirecional com um GestãoClick de mentira (sandbox)")
    say(f"  banco: {db_url}")

    with session_scope() as session:
        old = session.scalars(
            select(CrmIntegracao.id)
            .join_from(CrmIntegracao, _loja_model(), CrmIntegracao.id_loja == _loja_model().id)
            .where(_loja_model().nome == DEMO_STORE, CrmIntegracao.ativo.is_(True))
        ).all()
        if old:
            session.execute(update(CrmIntegracao).where(CrmIntegracao.id.in_(old)).values(ativo=False))
            session.commit()
        loja, api_key = create_loja(session, DEMO_STORE)
        integ = create_integracao(
            session,
            loja_id=loja.id,
            provider="gestao_click",
            base_url=f"http://127.0.0.1:{sb_port}",
            access_token=access,
            secret_access_token=secret,
            # E-mail changed on both sides goes to a person: the demo's conflict shows up in the console.
            config={"campos_especiais": {"email": {"estrategia": "manual"}}},
        )
        loja_id, integ_id = loja.id, integ.id
        webhook_token, webhook_secret = integ.webhook_token, integ.webhook_secret

    sandbox = SandboxServer(
        port=sb_port,
        access_token=access,
        secret_access_token=secret,
        seed=7,
        seed_records={"clientes": clientes, "produtos": 5},
        webhook_url=f"http://127.0.0.1:{api_port}/api/crm/webhook/gestao_click/{webhook_token}",
        webhook_secret=webhook_secret,
        webhook_backoff_seconds=0.5,
    )
    runtime: EmbeddedRuntime | None = None
    report: dict[str, Any] = {"loja_id": loja_id, "integracao_id": integ_id}
    try:
        sandbox.start()
        say(f"  sandbox GestãoClick: {sandbox.base_url} ({clientes} clientes e 5 produtos de exemplo)")
        install_listeners()
        api.start()

        # Three customers that exist only in the store; the automatic push is queued now and
        # runs once the worker starts.
        local_ids = _create_local_customers(loja_id)
        wait_dispatched(10)

        first = _first_sync(integ_id)
        report["primeira_sincronizacao"] = first
        say("  primeira sincronização:")
        say(
            f"    para o CRM: {first['para_crm'].get('sucessos', 0)} enviados de "
            f"{first['para_crm'].get('total', 0)}; "
            f"do CRM: {first['do_crm'].get('total_criados', 0)} criados, "
            f"{first['do_crm'].get('total_vinculados', 0)} vinculados, "
            f"{first['do_crm'].get('total_atualizados', 0)} atualizados"
        )
        get_state(settings).set_json(f"last:{integ_id}:pull", time.time())  # just pulled: no re-scan now

        runtime = EmbeddedRuntime(settings).start()
        changes = _make_changes(sandbox, loja_id, integ_id, local_ids)
        report.update(changes)
        for line in changes["linhas"]:
            say("  " + line)
        report["console"] = f"http://127.0.0.1:{api_port}/console"
        report["api"] = f"http://127.0.0.1:{api_port}/docs"
        report["sandbox"] = sandbox.base_url
        report["chave_api"] = api_key
        say("")
        say(f"  console: {report['console']}  (entre com a chave de API da loja)")
        say(f"  API:     {report['api']}")
        say(f"  chave de API da loja {loja_id}: {api_key}")
        if as_json:
            sys.stdout.write(json.dumps(report, ensure_ascii=False, default=str) + "\n")
            sys.stdout.flush()
        if once:
            return 0
        say("")
        say("  rodando; Ctrl-C para sair")
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(1)
        return 0
    finally:
        if runtime is not None:
            runtime.stop()
        api.stop()
        sandbox.stop()
        with contextlib.suppress(Exception), session_scope() as session:
            # The sandbox is gone with the demo: keep its integration from being scheduled later.
            session.execute(update(CrmIntegracao).where(CrmIntegracao.id == integ_id).values(ativo=False))


def _loja_model() -> Any:
    return Loja


def _create_local_customers(loja_id: int) -> list[int]:
    people = [
        {
            "nome": "Ana Beatriz Demo",
            "email": "ana.demo@example.com",
            "celular": "+5511987650001",
            "cidade": "São Paulo",
            "estado": "SP",
        },
        {
            "nome": "Bruno Carvalho Demo",
            "email": "bruno.demo@example.com",
            "celular": "+5521987650002",
            "cidade": "Rio de Janeiro",
            "estado": "RJ",
        },
        {
            "nome": "Comércio Demo LTDA",
            "tipo_pessoa": "PJ",
            "email": "contato@comercio-demo.example.com",
            "cidade": "Belo Horizonte",
            "estado": "MG",
        },
    ]
    ids = []
    with session_scope() as session:
        for person in people:
            ids.append(create_record(session, loja_id, "cliente", person).id)
    return ids


def _first_sync(integ_id: int) -> dict[str, Any]:
    engine = SyncEngine(get_sessionmaker(), integ_id, options=RunOptions(trigger="manual", actor="demo"))
    try:
        result = engine.sync()
    finally:
        engine.close()
    data = result.as_dict()
    return {
        "para_crm": data.get("para_crm") or {},
        "do_crm": data.get("do_crm") or {},
        "conflitos": data.get("conflitos") or {},
        "success": data.get("success"),
    }


def _links(integ_id: int) -> list[tuple[int, str]]:
    with session_scope() as session:
        rows = session.execute(
            select(CrmEntityLink.entity_id, CrmEntityLink.external_id)
            .where(CrmEntityLink.id_integracao == integ_id, CrmEntityLink.entity_type == "cliente")
            .order_by(CrmEntityLink.entity_id)
        ).all()
    return [(int(a), str(b)) for a, b in rows]


def _make_changes(sandbox: Any, loja_id: int, integ_id: int, local_ids: list[int]) -> dict[str, Any]:
    links = _links(integ_id)
    if len(links) < 3:
        raise DemoError("a primeira sincronização não vinculou clientes suficientes")
    lines: list[str] = []
    out: dict[str, Any] = {}
    pulled = [pair for pair in links if pair[0] not in local_ids] or links

    # 1. A save in the store: the automatic push takes it to the CRM.
    local_id, ext_id = links[0]
    new_name = "Ana Beatriz Demo (editada na loja)"
    if local_id not in local_ids:
        new_name = "Cliente editado na loja"
    started = time.monotonic()
    with session_scope() as session:
        update_record(session, loja_id, "cliente", local_id, {"nome": new_name})
    ok = _wait(lambda: sandbox.panel_get("clientes", ext_id).get("nome") == new_name)
    out["alteracao_local"], took = _propagation(local_id, ext_id, ok, started)
    lines.append(
        f"alteração na loja: cliente {local_id} renomeado -> "
        + (f"chegou ao CRM em {took:.1f} s (push automático)" if ok else "ainda não chegou ao CRM")
    )

    # 2. An edit in the CRM's panel: its webhook makes us pull that record.
    local_id, ext_id = pulled[min(1, len(pulled) - 1)]
    current = sandbox.panel_get("clientes", ext_id)
    remote_name = f"{current.get('nome', 'Cliente')} (editado no CRM)"[:100]
    started = time.monotonic()
    sandbox.panel_update("clientes", ext_id, {"nome": remote_name})

    def local_name() -> str | None:
        with session_scope() as session:
            row = session.get(Cliente, local_id)
            return None if row is None else row.nome

    ok = _wait(lambda: local_name() == remote_name)
    out["alteracao_crm"], took = _propagation(local_id, ext_id, ok, started)
    lines.append(
        f"alteração no CRM: cliente {ext_id} do CRM (cliente {local_id} da loja) renomeado -> "
        + (f"chegou à loja em {took:.1f} s (webhook)" if ok else "ainda não chegou à loja")
    )

    # 3. The same field changed on both sides: e-mail is set to manual review in this demo.
    local_id, ext_id = pulled[min(2, len(pulled) - 1)]
    with session_scope() as session:
        # Straight in the database, as the PHP ERP would (no API call, no event).
        row = session.get(Cliente, local_id)
        if row is None:
            raise DemoError(f"cliente {local_id} sumiu")
        row.email = f"loja.{local_id}@example.com"
        row.modificado_em = utcnow()
    sandbox.panel_update("clientes", ext_id, {"email": f"crm.{ext_id}@example.com"})

    def pending_conflict() -> int | None:
        with session_scope() as session:
            return session.scalar(
                select(CrmConflito.id).where(
                    CrmConflito.id_integracao == integ_id,
                    CrmConflito.entity_id == local_id,
                    CrmConflito.status == "pendente",
                )
            )

    conflict_id = _wait(pending_conflict)
    out["conflito"] = {"cliente": local_id, "external_id": ext_id, "id": conflict_id}
    lines.append(
        f"conflito: e-mail do cliente {local_id} mudou nos dois lados -> "
        + (f"conflito {conflict_id} aguardando revisão no console" if conflict_id else "ainda não detectado")
    )
    out["linhas"] = lines
    return out
