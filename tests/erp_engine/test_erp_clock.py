"""`push --since` on an ERP's table measures the window on the ERP database's own clock: a
Brazilian ERP's PHP stamps local time (UTC-3), so a window measured from UTC would miss the
rows changed in its first hours."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from erp_world import attach
from sqlalchemy import create_engine, text

from crmsync.db.session import dispose_engines
from crmsync.sandbox import SandboxServer
from crmsync.settings import reset_settings_cache


@pytest.mark.postgres
def test_push_since_counts_on_the_erps_clock(
    fresh_database: Any, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    url = fresh_database("postgresql")
    name = url.rsplit("/", 1)[-1]
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:  # the ERP's server runs in Brazil's time
        conn.execute(text(f"ALTER DATABASE \"{name}\" SET timezone TO 'America/Sao_Paulo'"))
    admin.dispose()
    erp = attach(url, sandbox, monkeypatch, tmp_path)
    try:
        # changed two hours ago, as the PHP stamps it (local time, no zone)
        erp.sql("UPDATE cad_clientes SET dt_alteracao = LOCALTIMESTAMP - INTERVAL '2 hours'")
        erp.sql("UPDATE cad_clientes SET dt_alteracao = LOCALTIMESTAMP - INTERVAL '2 days' WHERE cod_cli <> 1")
        summary = erp.engine().push("cliente", since=timedelta(hours=4))
        assert [i.entity_id for i in summary.itens] == [1], summary.as_dict()
        assert erp.remote("clientes", "nome", "José da Conceição")
    finally:
        erp.close()
        dispose_engines()
        reset_settings_cache()
