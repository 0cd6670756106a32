"""Files and retention: database files crmsync creates are 0600 (and their WAL too); the
secret key is created once when two processes start together; provider secrets can come from
a file or the environment instead of the command line; processed webhook deliveries and the
sync log past their retention are purged, pending deliveries never."""

from __future__ import annotations

import json
import os
import stat
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from support.processes import run_side_by_side
from support.settings_env import settings_env
from typer.testing import CliRunner

from crmsync.cli import app
from crmsync.db.schema import upgrade
from crmsync.db.session import dispose_engines, get_engine, get_sessionmaker, session_scope
from crmsync.db.sync import CrmSyncLog, CrmWebhookInbox
from crmsync.db.types import utcnow
from crmsync.engine.retention import purge_expired
from crmsync.providers.limits import SQLiteLimits
from crmsync.runtime.state import SqliteState
from crmsync.services.integracoes import get_credentials, get_integracao
from crmsync.settings import Settings

from .conftest import store_with_integration


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_database_files_created_private(tmp_path: Path) -> None:
    old = os.umask(0o022)  # the usual umask would make them world-readable
    try:
        db = tmp_path / "sub" / "crmsync.db"
        engine = get_engine(f"sqlite:///{db.as_posix()}")
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (x INTEGER)"))
            conn.execute(text("INSERT INTO t VALUES (1)"))
        assert _mode(db) == 0o600
        wal = db.with_name(db.name + "-wal")
        assert wal.exists() and _mode(wal) == 0o600
        limits = SQLiteLimits(str(tmp_path / "limits.db"))
        limits.close()
        assert _mode(tmp_path / "limits.db") == 0o600
        SqliteState(str(tmp_path / "queue.db"))
        assert _mode(tmp_path / "queue.db") == 0o600
        shared = tmp_path / "erp.db"  # an existing file (the ERP's own) keeps its mode
        shared.touch(mode=0o644)
        os.chmod(shared, 0o644)
        with get_engine(f"sqlite:///{shared.as_posix()}").connect() as conn:
            conn.execute(text("SELECT 1"))
        assert _mode(shared) == 0o644
    finally:
        os.umask(old)
        dispose_engines()


_KEY_SCRIPT = """
import sys, time
from pathlib import Path
from crmsync.settings import Settings
start = float(sys.argv[2])
while time.time() < start:
    pass
print(Settings(data_dir=Path(sys.argv[1]), secret_key="").resolved_secret_key())
"""


def test_secret_key_created_once_by_two_processes(tmp_path: Path) -> None:
    for round_ in range(3):
        data_dir = tmp_path / f"d{round_}"
        start = time.time() + 1.5  # both processes are up and spinning by then
        env = {k: v for k, v in os.environ.items() if k != "CRMSYNC_SECRET_KEY"}
        outs = run_side_by_side([sys.executable, "-c", _KEY_SCRIPT, str(data_dir), str(start)], env, timeout=60)
        keys = {out.strip() for out in outs}
        key_file = data_dir / ".crmsync_secret_key"
        assert keys == {key_file.read_text().strip()} and len(keys.pop()) == 44
        assert _mode(key_file) == 0o600
        assert sorted(p.name for p in data_dir.iterdir()) == [".crmsync_secret_key"]  # no temp file left


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.delenv("CRMSYNC_ACCESS_TOKEN", raising=False)
    monkeypatch.delenv("CRMSYNC_SECRET_ACCESS_TOKEN", raising=False)
    with settings_env(monkeypatch, tmp_path):
        yield CliRunner()


def _credentials(integ_id: int) -> dict[str, str]:
    with session_scope() as s:
        return get_credentials(get_integracao(s, integ_id))


def test_provider_secrets_from_file_or_environment(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    r = cli.invoke(app, ["loja", "add", "--nome", "Loja", "--json"])
    assert r.exit_code == 0, r.output
    loja = str(json.loads(r.stdout)["id"])
    base = ["integration", "add", "--sem-verificar", "--loja", loja, "--base-url", "http://127.0.0.1:9", "--json"]
    (tmp_path / "access").write_text("acc-from-file\n")
    (tmp_path / "secret").write_text("sec-from-file\n")
    r = cli.invoke(
        app,
        [
            *base,
            "--access-token-file",
            str(tmp_path / "access"),
            "--secret-access-token-file",
            str(tmp_path / "secret"),
        ],
    )
    assert r.exit_code == 0, r.output
    created = json.loads(r.stdout)
    assert _credentials(created["id"]) == {"access_token": "acc-from-file", "secret_access_token": "sec-from-file"}
    assert "acc-from-file" not in r.output and "sec-from-file" not in r.output

    second = cli.invoke(app, ["loja", "add", "--nome", "Loja 2", "--json"])
    loja2 = str(json.loads(second.stdout)["id"])
    base2 = [a if a != loja else loja2 for a in base]
    r = cli.invoke(app, base2)  # nothing given anywhere: one line, exit 2, nothing created
    assert r.exit_code == 2 and "--access-token-file" in r.output and "CRMSYNC_ACCESS_TOKEN" in r.output
    monkeypatch.setenv("CRMSYNC_ACCESS_TOKEN", "acc-from-env")
    monkeypatch.setenv("CRMSYNC_SECRET_ACCESS_TOKEN", "sec-from-env")
    r = cli.invoke(app, base2)
    assert r.exit_code == 0, r.output
    assert _credentials(json.loads(r.stdout)["id"])["access_token"] == "acc-from-env"
    r = cli.invoke(app, [*base2, "--access-token-file", str(tmp_path / "missing")])
    assert r.exit_code == 2


def test_retention_purges_old_processed_rows_only(app_env: dict[str, str], sqlite_url: str) -> None:
    upgrade(sqlite_url)
    now = utcnow()
    with session_scope() as s:
        loja, _key, integ = store_with_integration(s)
        for i, (age, status) in enumerate([(40, "processado"), (40, "recebido"), (40, "erro"), (5, "processado")]):
            s.add(
                CrmWebhookInbox(
                    id_integracao=integ.id,
                    delivery_id=f"d{i}",
                    payload={},
                    status=status,
                    recebido_em=now - timedelta(days=age),
                )
            )
        for i, age in enumerate([100, 95, 10]):
            s.add(
                CrmSyncLog(
                    id_loja=loja.id,
                    id_integracao=integ.id,
                    run_id=f"r{i}",
                    tipo="manual",
                    direcao="push",
                    operacao="update",
                    entity_type="cliente",
                    status="sucesso",
                    duracao_ms=1,
                    criado_em=now - timedelta(days=age),
                )
            )
    sf = get_sessionmaker(sqlite_url)
    settings = Settings()
    done = purge_expired(
        sf, webhook_days=settings.webhook_retention_days, log_days=settings.sync_log_retention_days, now=now
    )
    assert (done.webhooks, done.logs) == (2, 2)
    with sf() as s:
        assert sorted(s.scalars(select(CrmWebhookInbox.delivery_id))) == ["d1", "d3"]  # pending kept
        assert list(s.scalars(select(CrmSyncLog.run_id))) == ["r2"]
    assert purge_expired(sf, webhook_days=0, log_days=0, now=now + timedelta(days=999)).logs == 0  # 0 keeps all
    with sf() as s:
        assert s.scalar(select(func.count()).select_from(CrmSyncLog)) == 1
