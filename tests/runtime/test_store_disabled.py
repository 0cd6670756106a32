"""A disabled store syncs nothing: its jobs are skipped without a request to its CRM, and
enabling it again resumes them (issue #12, item 5)."""

from __future__ import annotations

from crmsync.db.session import session_scope
from crmsync.sandbox.server import SandboxServer
from crmsync.services.lojas import set_loja_active
from tests.runtime.conftest import Env, insert_clientes, make_tenant


def test_a_disabled_stores_jobs_are_skipped(rt_env: Env) -> None:
    from crmsync.runtime.jobs import pull_entity, push_record

    with SandboxServer(access_token="sd1", secret_access_token="ssd1", rate_limit=0) as sb:
        tenant = make_tenant(sb.base_url, access_token="sd1", secret_access_token="ssd1")
        (cid,) = insert_clientes(tenant.loja_id, [("Davi Desligado", "davi@example.com")])
        with session_scope() as s:
            set_loja_active(s, tenant.loja_id, False)
        assert push_record(tenant.integracao_id, "cliente", cid) == "ignorado"
        assert pull_entity(tenant.integracao_id, "cliente") == "ignorado"
        assert sb.stats()["routes"] == {}  # not one request reached the CRM
        with session_scope() as s:
            set_loja_active(s, tenant.loja_id, True)
        assert push_record(tenant.integracao_id, "cliente", cid) == "create"
        assert "POST /clientes" in sb.stats()["routes"]
