"""A change the ERP's PHP writes with plain SQL reaches the sandbox by itself, through the
runtime: without triggers (the scheduler's level-triggered sweep: the watermark scan of a
table with a modified column, the full hash scan of one without) and with triggers (the
outbox, while the sweep is too far away to be the one delivering)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from erp_world import (
    ERP_KINDS,
    MAP_PATH,
    Erp,
    attach,
    mark_server,
    wait_for,
)
from sqlalchemy import create_engine

from crmsync.erp.schema_map import load_schema_map
from crmsync.erp.triggers import install_triggers, outbox_exists
from crmsync.runtime.embedded import EmbeddedRuntime
from crmsync.runtime.queue import reset_queue
from crmsync.sandbox import SandboxServer

FAST = {
    "CRMSYNC_SCHEDULER_TICK_SECONDS": "0.3",
    "CRMSYNC_RETRY_BASE_SECONDS": "0.3",
    "CRMSYNC_RETRY_MAX_SECONDS": "2",
    "CRMSYNC_LOCK_TTL_SECONDS": "4",
    "CRMSYNC_PENDING_TTL_SECONDS": "4",
    "CRMSYNC_SHUTDOWN_TIMEOUT_SECONDS": "20",
    "CRMSYNC_LOG_LEVEL": "WARNING",
}


def _runtime_erp(
    kind: str, erp_database: Any, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **env: str
) -> Erp:
    for key, value in {**FAST, **env}.items():
        monkeypatch.setenv(key, value)
    erp = attach(erp_database(kind), sandbox, monkeypatch, tmp_path)
    reset_queue()
    return erp


@pytest.fixture(params=ERP_KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    mark_server(request, request.param)
    return str(request.param)


def test_plain_sql_changes_reach_the_crm_without_triggers(
    kind: str, erp_database: Any, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    erp = _runtime_erp(kind, erp_database, sandbox, monkeypatch, tmp_path, CRMSYNC_LOCAL_SWEEP_SECONDS="1")
    try:
        with EmbeddedRuntime(scheduler=True):
            wait_for(lambda: erp.remote("clientes", "nome", "José da Conceição"), what="first sweep")
            # a new row and an edit with the modified column: the watermark scan
            erp.sql(
                "INSERT INTO cad_clientes (razao, cpf, email, ativo, dt_alteracao)"
                " VALUES ('Nova Pelo PHP', '390.533.447-05', 'php@example.com', 'S', CURRENT_TIMESTAMP)"
            )
            wait_for(lambda: erp.remote("clientes", "email", "php@example.com"), what="insert pushed")
            # a product table without a modified column: the full hash scan
            erp.sql("UPDATE cad_produtos SET preco_venda = '5,49' WHERE cod_prod = 1")
            wait_for(
                lambda: [
                    p for p in erp.remote("produtos", "codigo_interno", "ACU-1") if "5.49" in str(p["valor_venda"])
                ],
                what="price pushed",
            )
            # a hard delete by the ERP of a row already synced (the first sweep queued every row,
            # but the PJ row need not have been pushed yet)
            padaria = wait_for(lambda: erp.remote("clientes", "nome", "Padaria Pão Quente Ltda"), what="PJ pushed")[0]
            wait_for(lambda: erp.link("cliente", 2), what="PJ linked")
            erp.sql("DELETE FROM cad_clientes WHERE cod_cli = 2")
            wait_for(
                lambda: str(erp.sb.panel_get("clientes", padaria["id"]).get("ativo")) in ("0", "False", "false"),
                what="delete pushed",
            )
        assert len(erp.remote("clientes", "email", "php@example.com")) == 1
    finally:
        erp.close()


def test_plain_sql_changes_reach_the_crm_through_the_trigger_outbox(
    kind: str, erp_database: Any, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # the sweep runs once at start, then not for an hour: only the outbox can deliver
    erp = _runtime_erp(kind, erp_database, sandbox, monkeypatch, tmp_path, CRMSYNC_LOCAL_SWEEP_SECONDS="3600")
    db = create_engine(erp.url)
    try:
        install_triggers(load_schema_map(MAP_PATH), db)
        assert outbox_exists(db)
        with EmbeddedRuntime(scheduler=True):
            wait_for(lambda: erp.remote("clientes", "nome", "José da Conceição"), what="first sweep")
            wait_for(lambda: erp.link("cliente", 1), what="first sweep committed")
            erp.sql("UPDATE cad_clientes SET email = 'gatilho@example.com' WHERE cod_cli = 1")  # no dt_alteracao
            wait_for(lambda: erp.remote("clientes", "email", "gatilho@example.com"), what="outbox push")
            erp.sql("UPDATE cad_produtos SET descricao = 'Açúcar refinado 1kg' WHERE cod_prod = 1")
            wait_for(lambda: erp.remote("produtos", "nome", "Açúcar refinado 1kg"), what="outbox push (latin1)")
        assert erp.all("SELECT id FROM crm_erp_outbox") == []
    finally:
        db.dispose()
        erp.close()
