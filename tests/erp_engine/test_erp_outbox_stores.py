"""The trigger outbox queues a change only for the integrations of the row's own store
(issue #19): with two stores, one ERP change is one push, for its store; a hard-deleted
row (no store to read any more) goes to the integrations that had linked it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from erp_world import CREDS, MAP_PATH, attach
from sqlalchemy import create_engine

from crmsync.crypto import encrypt_json
from crmsync.db.local import Loja
from crmsync.db.session import dispose_engines
from crmsync.db.sync import CrmIntegracao
from crmsync.erp.schema_map import load_schema_map
from crmsync.erp.triggers import install_triggers
from crmsync.runtime.enqueue import enqueue_push
from crmsync.runtime.outbox import OutboxWatcher
from crmsync.runtime.queue import reset_queue
from crmsync.sandbox import SandboxServer
from crmsync.settings import reset_settings_cache


def test_one_erp_change_queues_one_push_for_its_own_store(
    fresh_database: Any, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    erp = attach(fresh_database("sqlite"), sandbox, monkeypatch, tmp_path)
    reset_queue()
    db = create_engine(erp.url)
    try:
        with erp.sf() as s, s.begin():
            loja = Loja(nome="Filial", api_key_hash="66696c69616c", api_key_prefix="crm_")
            s.add(loja)
            s.flush()
            other = CrmIntegracao(
                id_loja=loja.id,
                provider="gestao_click",
                ativo=True,
                base_url=sandbox.base_url,
                credenciais=encrypt_json(CREDS),
                credenciais_hash="h2",
                config={},
                webhook_token="tok2",
            )
            s.add(other)
            s.flush()
            other_id, other_store = other.id, loja.id
        erp.engine().push("cliente")  # links the store-1 rows to integration 1
        install_triggers(load_schema_map(MAP_PATH), db)
        watcher = OutboxWatcher(interval=3600)

        erp.sql("UPDATE cad_clientes SET email = 'loja1@example.com' WHERE cod_cli = 1")
        assert watcher.poll() == 1
        assert not enqueue_push(erp.integracao_id, "cliente", 1)  # already queued: for store 1
        assert enqueue_push(other_id, "cliente", 1)  # never queued for the other store

        erp.sql(
            "INSERT INTO cad_clientes (cod_empresa, razao, email, ativo)"
            " VALUES (:loja, 'Da Filial', 'f@example.com', 'S')",
            loja=other_store,
        )
        assert watcher.poll() == 1
        assert not enqueue_push(other_id, "cliente", 6)
        assert enqueue_push(erp.integracao_id, "cliente", 6)

        erp.sql("DELETE FROM cad_clientes WHERE cod_cli = 2")  # gone: to whoever linked it
        assert watcher.poll() == 1
        assert not enqueue_push(erp.integracao_id, "cliente", 2)
        assert enqueue_push(other_id, "cliente", 2)
    finally:
        db.dispose()
        erp.close()
        dispose_engines()
        reset_settings_cache()
