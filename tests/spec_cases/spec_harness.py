"""Harness for the spec's practical cases, end to end (fixtures are in conftest.py).

Everything is real: a migrated SQLite database (`app_env`), a SandboxServer answering HTTP on
127.0.0.1 like GestãoClick, the real GestaoClickProvider (opened by the engine from the
integration row), our CLI through Typer's CliRunner and our REST API through FastAPI's
TestClient. The sandbox runs without rate limit and quota so the cases stay fast; limits
have their own tests elsewhere.

Each side is checked through its own API: the GestãoClick side over HTTP with the company's
tokens (what the real provider would answer), the local side through our REST API when the
local routes answer, else through the database (the ERP's own view).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner

from crmsync.cli import app as cli_app
from crmsync.db.local import Cliente, Produto
from crmsync.db.session import session_scope
from crmsync.db.sync import CrmConflito, CrmDuplicata, CrmEntityLink, CrmIntegracao, CrmSyncLog
from crmsync.sandbox.server import SandboxServer

SPEC_CONFIG = Path(__file__).resolve().parents[2] / "crmsync" / "examples" / "spec-config.yaml"


@dataclass
class CliOutcome:
    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


@dataclass
class World:
    """One store connected to one sandbox, plus handles on every way to look at it."""

    sandbox: SandboxServer
    loja_id: int
    api_key: str
    integracao_id: int
    client: TestClient
    runner: CliRunner = field(default_factory=CliRunner)

    # ----------------------------------------------------------------- drivers
    def cli(self, *args: Any) -> CliOutcome:
        result = self.runner.invoke(cli_app, [str(a) for a in args])
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return CliOutcome(result.exit_code, result.stdout, result.stderr)

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    def api(self, method: str, path: str, **kw: Any) -> httpx.Response:
        headers = {**self.auth, **kw.pop("headers", {})}
        return self.client.request(method, path, headers=headers, **kw)

    # ----------------------------------------------------------------- config
    def set_config(self, config: dict[str, Any] | str | Path) -> None:
        from crmsync.services.integracoes import set_config

        data = yaml.safe_load(Path(config).read_text()) if isinstance(config, str | Path) else config
        with session_scope() as s:
            set_config(s, self.integracao_id, data)

    def set_active(self, ativo: bool) -> None:
        from crmsync.services.integracoes import set_active

        with session_scope() as s:
            set_active(s, self.integracao_id, ativo)

    # ----------------------------------------------------------------- local side (the ERP)
    def local_create(self, **values: Any) -> int:
        """Create a cliente through our REST API, as the spec's 7.1 does (`POST /api/clientes`).
        No runtime listener is registered here, so nothing is pushed until we ask."""
        values.setdefault("tipo_pessoa", "PF")
        resp = self.api("POST", "/api/clientes", json=values)
        assert resp.status_code == 201, resp.text
        return int(resp.json()["id"])

    def local_update(self, cliente_id: int, *, at: datetime | None = None, **values: Any) -> None:
        """`PUT /api/clientes/{id}`; `at` then back-dates modificado_em to when the edit
        happened (how a 5-minute gap is made without sleeping)."""
        resp = self.api("PUT", f"/api/clientes/{cliente_id}", json=values)
        assert resp.status_code == 200, resp.text
        if at is not None:
            with session_scope() as s:
                row = s.get(Cliente, cliente_id)
                assert row is not None
                row.modificado_em = at

    def local_delete(self, cliente_id: int) -> None:
        """Soft delete through our REST API (`DELETE /api/clientes/{id}`)."""
        resp = self.api("DELETE", f"/api/clientes/{cliente_id}")
        assert resp.status_code == 200, resp.text

    def local(self, cliente_id: int) -> dict[str, Any]:
        """The local cliente as our REST API answers it (soft-deleted ones too)."""
        resp = self.api("GET", f"/api/clientes/{cliente_id}")
        assert resp.status_code == 200, resp.text
        return dict(resp.json())

    def local_clientes(self, *, include_deleted: bool = False) -> list[dict[str, Any]]:
        with session_scope() as s:
            q = select(Cliente).where(Cliente.id_loja == self.loja_id).order_by(Cliente.id)
            if not include_deleted:
                q = q.where(Cliente.deletado_em.is_(None))
            return [{c.name: getattr(r, c.name) for c in Cliente.__table__.columns} for r in s.scalars(q)]

    def local_produto(self, produto_id: int) -> dict[str, Any]:
        with session_scope() as s:
            row = s.get(Produto, produto_id)
            assert row is not None
            return {c.name: getattr(row, c.name) for c in Produto.__table__.columns}

    # ----------------------------------------------------------------- GestãoClick side
    def remote_get(self, recurso: str, external_id: str) -> dict[str, Any] | None:
        """A record as GestãoClick's API answers it (None when it answers 404)."""
        resp = httpx.get(
            f"{self.sandbox.base_url}/api/{recurso}/{external_id}", headers=self.sandbox.headers, timeout=10
        )
        if resp.status_code == 404:
            return None
        resp.raise_for_status()
        body = resp.json()
        return dict(body["data"]) if isinstance(body, dict) and "data" in body else dict(body)

    def remote_all(self, recurso: str = "clientes") -> list[dict[str, Any]]:
        return self.sandbox.panel_list(recurso)

    # ----------------------------------------------------------------- sync tables
    def _link_column(self, wanted: Any, entity_type: str, *where: Any) -> Any:
        """One column of this store's link of `entity_type` that matches `where`."""
        scope = (CrmEntityLink.id_loja == self.loja_id, CrmEntityLink.entity_type == entity_type)
        with session_scope() as s:
            return s.scalar(select(wanted).where(*scope, *where))

    def link_for_local(self, entity_id: int, entity_type: str = "cliente") -> str | None:
        return self._link_column(CrmEntityLink.external_id, entity_type, CrmEntityLink.entity_id == entity_id)

    def link_for_external(self, external_id: str, entity_type: str = "cliente") -> int | None:
        found = CrmEntityLink.external_id == str(external_id)
        return self._link_column(CrmEntityLink.entity_id, entity_type, found)

    def count_links(self, entity_type: str = "cliente") -> int:
        with session_scope() as s:
            return int(
                s.scalar(
                    select(func.count())
                    .select_from(CrmEntityLink)
                    .where(CrmEntityLink.id_loja == self.loja_id, CrmEntityLink.entity_type == entity_type)
                )
                or 0
            )

    def pending_conflicts(self) -> list[dict[str, Any]]:
        from crmsync.services.queries import list_conflicts

        with session_scope() as s:
            return list_conflicts(s, loja_id=self.loja_id)["items"]

    def conflict_rows(self) -> list[CrmConflito]:
        with session_scope() as s:
            return list(s.scalars(select(CrmConflito).where(CrmConflito.id_loja == self.loja_id)))

    def duplicates(self) -> list[CrmDuplicata]:
        with session_scope() as s:
            return list(s.scalars(select(CrmDuplicata).where(CrmDuplicata.id_loja == self.loja_id)))

    def log_rows(self, **filters: Any) -> list[CrmSyncLog]:
        with session_scope() as s:
            q = select(CrmSyncLog).where(CrmSyncLog.id_loja == self.loja_id)
            for k, v in filters.items():
                q = q.where(getattr(CrmSyncLog, k) == v)
            return list(s.scalars(q.order_by(CrmSyncLog.id)))

    # ----------------------------------------------------------------- helpers for cases
    def linked_cliente(self, **values: Any) -> tuple[int, str]:
        """A cliente created locally and pushed: both sides hold it and a link joins them."""
        cid = self.local_create(**values)
        out = self.cli("push", "--loja", self.loja_id, "--entity", "cliente", "--id", cid)
        assert out.exit_code == 0, out.stdout + out.stderr
        ext = self.link_for_local(cid)
        assert ext is not None
        return cid, ext


def minutes_ago(n: float) -> datetime:
    return datetime.now(UTC) - timedelta(minutes=n)


def make_store(
    sandbox: SandboxServer, nome: str = "Loja Centro", config: dict[str, Any] | None = None, base_url: str | None = None
) -> tuple[int, str, int]:
    from crmsync.services.integracoes import create_integracao
    from crmsync.services.lojas import create_loja

    company = sandbox.config.company_list()[0]
    with session_scope() as s:
        loja, key = create_loja(s, nome)
        integ = create_integracao(
            s,
            loja_id=loja.id,
            provider="gestao_click",
            base_url=base_url or sandbox.base_url,
            access_token=company.access_token,
            secret_access_token=company.secret_access_token,
            config=config or {},
        )
        return int(loja.id), key, int(integ.id)


def integration_row(integ_id: int) -> CrmIntegracao:
    with session_scope() as s:
        row = s.get(CrmIntegracao, integ_id)
        assert row is not None
        return row
