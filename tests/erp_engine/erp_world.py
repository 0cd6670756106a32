"""Test world of the ERP-engine acceptance tests: a legacy PHP-style ERP schema (built with
plain SQL by tests/erp_core/legacy_schema.py) in one database beside crmsync's own `crm_`
tables, the schema map of tests/erp_engine/legacy_map.yaml made active, one store, one
integration and the GestãoClick sandbox over real HTTP."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from crmsync.config import parse_config
from crmsync.crypto import encrypt_json
from crmsync.db.local import Loja
from crmsync.db.schema import upgrade
from crmsync.db.session import dispose_engines, get_sessionmaker
from crmsync.db.sync import CrmEntityLink, CrmIntegracao, CrmItemFalho
from crmsync.engine import RunOptions, SyncEngine
from crmsync.providers.gestaoclick import GestaoClickProvider
from crmsync.sandbox import SandboxServer
from crmsync.settings import reset_settings_cache

sys.path.insert(0, str(Path(__file__).parents[1] / "erp_core"))
from legacy_schema import build_legacy_erp, erp_ddl
from support.waiting import wait_for  # noqa: F401  (the erp tests' wait, from here)

PG_ADMIN_URL = os.environ.get("CRMSYNC_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MARIA_ADMIN_URL = os.environ.get("CRMSYNC_TEST_MARIA_URL", "mysql+pymysql://root@127.0.0.1:3306/test")

#: database kind -> (server, CREATE DATABASE options) of the legacy charsets.
LEGACY_CHARSETS: dict[str, tuple[str, str]] = {
    "mariadb-latin1": ("mariadb", "CHARACTER SET latin1 COLLATE latin1_swedish_ci"),
    "mariadb-utf8mb3": ("mariadb", "CHARACTER SET utf8mb3 COLLATE utf8mb3_general_ci"),
    "postgresql-latin1": ("postgresql", "ENCODING 'LATIN1' TEMPLATE template0 LC_COLLATE 'C' LC_CTYPE 'C'"),
}
#: every database kind the ERP tests run on.
ERP_KINDS = ["sqlite", "postgresql", "mariadb", *LEGACY_CHARSETS]


def server_of(kind: str) -> str:
    return LEGACY_CHARSETS[kind][0] if kind in LEGACY_CHARSETS else kind


def mark_server(request: pytest.FixtureRequest, kind: str) -> None:
    server = server_of(kind)
    if server != "sqlite":
        request.applymarker(getattr(pytest.mark, "postgres" if server == "postgresql" else "mariadb"))


MAP_PATH = Path(__file__).parent / "legacy_map.yaml"
CREDS = {"access_token": "sandbox-access-token", "secret_access_token": "sandbox-secret-token"}
MAPPED_TABLES = ("lojas", "clientes", "produtos", "cad_clientes", "cad_produtos", "pedidos", "pedidos_itens")


def ddl_only(url: str) -> dict[str, Any]:
    """The ERP's DDL snapshot without its rows (rows change by syncing; the DDL never may)."""
    snap = erp_ddl(url)
    return {table: {k: v for k, v in info.items() if k != "rows"} for table, info in snap.items()}


class Erp:
    """The legacy ERP database plus crmsync attached to it with the legacy map."""

    def __init__(self, url: str, sf: sessionmaker[Session], sb: SandboxServer, integracao_id: int) -> None:
        self.url = url
        self.sf = sf
        self.sb = sb
        self.integracao_id = integracao_id
        self.db = create_engine(url)

    def sql(self, statement: str, **params: Any) -> None:
        """A write as the ERP's PHP does it: plain SQL, its own transaction."""
        with self.db.begin() as conn:
            conn.execute(text(statement), params)

    def one(self, statement: str, **params: Any) -> Any:
        with self.db.connect() as conn:
            return conn.execute(text(statement), params).one_or_none()

    def all(self, statement: str, **params: Any) -> list[Any]:
        with self.db.connect() as conn:
            return list(conn.execute(text(statement), params).all())

    def engine(self, config: dict[str, Any] | None = None) -> SyncEngine:
        provider = GestaoClickProvider(
            self.sb.base_url,
            credentials=CREDS,
            config=parse_config(config or {}),
            rate_limit_per_second=None,
            daily_quota=None,
            create_settle_seconds=0,
        )
        return SyncEngine(self.sf, self.integracao_id, provider=provider, options=RunOptions(actor="e2e"))

    def set_config(self, config: dict[str, Any]) -> None:
        with self.sf() as s, s.begin():
            integ = s.get(CrmIntegracao, self.integracao_id)
            assert integ is not None
            integ.config = config

    def link(self, entity_type: str, entity_id: int) -> CrmEntityLink | None:
        with self.sf() as s:
            return s.scalars(
                select(CrmEntityLink).where(
                    CrmEntityLink.entity_type == entity_type, CrmEntityLink.entity_id == entity_id
                )
            ).first()

    def failed(self, entity_type: str) -> list[CrmItemFalho]:
        with self.sf() as s:
            return list(
                s.scalars(
                    select(CrmItemFalho)
                    .where(CrmItemFalho.entity_type == entity_type, CrmItemFalho.status != "resolvido")
                    .order_by(CrmItemFalho.id)
                )
            )

    def writes(self) -> int:
        return sum(1 for r in self.sb.requests() if r.get("method") in ("POST", "PUT", "DELETE"))

    def remote(self, recurso: str, field: str, value: Any) -> list[dict[str, Any]]:
        return [r for r in self.sb.panel_list(recurso) if r.get(field) == value]

    def close(self) -> None:
        self.db.dispose()


def attach(
    url: str, sb: SandboxServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, ours: str | None = None
) -> Erp:
    """Build the legacy ERP with plain SQL, then attach crmsync: its `crm_` tables only, in
    the ERP's database, or in ``ours`` (the two-database layout)."""
    build_legacy_erp(url)
    ours = ours or url
    env = {
        "CRMSYNC_DATA_DIR": str(tmp_path),
        "CRMSYNC_DATABASE_URL": ours,
        "CRMSYNC_SCHEMA_MAP": str(MAP_PATH),
        "CRMSYNC_QUEUE_URL": f"sqlite:///{(tmp_path / 'queue.db').as_posix()}",
        "CRMSYNC_SECRET_KEY": "xJ7Ob0rNwrZ0Vq3r9mOe2jvV6lE4hN8XcZ1pQ5sT7uY=",
        "CRMSYNC_ADMIN_TOKEN": "admin-token-for-tests",
    }
    if ours != url:
        env["CRMSYNC_ERP_DATABASE_URL"] = url
    else:
        monkeypatch.delenv("CRMSYNC_ERP_DATABASE_URL", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    reset_settings_cache()
    dispose_engines()
    upgrade(ours, local_tables=False)
    sf = get_sessionmaker(ours)
    for recurso in ("vendas", "clientes", "produtos"):
        for row in sb.panel_list(recurso):
            sb.panel_delete(recurso, row["id"])
    with sf() as s, s.begin():
        loja = Loja(nome="Matriz", api_key_hash="6d617472697a", api_key_prefix="crm_")
        s.add(loja)
        s.flush()
        assert loja.id == 1  # the ERP's cod_empresa of its single store
        integ = CrmIntegracao(
            id_loja=loja.id,
            provider="gestao_click",
            ativo=True,
            base_url=sb.base_url,
            credenciais=encrypt_json(CREDS),
            credenciais_hash="h1",
            config={},
            webhook_token="tok1",
        )
        s.add(integ)
        s.flush()
        integracao_id = integ.id
    sb.reset_stats(quota=True)
    return Erp(url, sf, sb, integracao_id)
