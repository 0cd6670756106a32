"""Status, metrics and failed-item actions (API and CLI), scoped by store."""

from __future__ import annotations

import json
from typing import Any

import httpx
from sqlalchemy import select
from support.rows import failed_push
from typer.testing import CliRunner

from crmsync.cli import app as cli_app
from crmsync.db.session import session_scope
from crmsync.db.sync import CrmItemFalho
from crmsync.runtime.scheduler import Scheduler
from crmsync.sandbox.server import SandboxServer
from runtime.conftest import Env, make_tenant


def _failed_item(tenant: Any, entity_id: int, status: str = "falhou") -> int:
    with session_scope() as s:
        item = failed_push(tenant.loja_id, tenant.integracao_id, entity_id, status, 8, "HTTP 422: e-mail inválido")
        s.add(item)
        s.flush()
        return int(item.id)


def test_status_metrics_and_failed_items(rt_env: Env, api_server: Any) -> None:
    from crmsync.runtime.jobs import pull_entity

    with SandboxServer(access_token="st1", secret_access_token="sst1", seed=2, seed_records={"clientes": 5}) as sb:
        tenant = make_tenant(sb.base_url, access_token="st1", secret_access_token="sst1", nome="Loja A")
        other = make_tenant(sb.base_url, access_token="st2", secret_access_token="sst2", nome="Loja B")
        assert pull_entity(tenant.integracao_id, "cliente") == "sucesso"
        Scheduler().tick()
        item_id = _failed_item(tenant, 1)
        api = api_server()
        url = f"http://127.0.0.1:{api.port}"
        auth = {"Authorization": f"Bearer {tenant.api_key}"}

        assert httpx.get(f"{url}/api/crm/status", timeout=60).status_code == 401
        body = httpx.get(f"{url}/api/crm/status", headers=auth, timeout=60).json()
        assert body["loja"] == tenant.loja_id and len(body["integracoes"]) == 1
        integ = body["integracoes"][0]
        assert integ["ultimo_pull"] is not None
        assert integ["itens_falhos"]["falhou"] == 1
        assert integ["conflitos_pendentes"] == 0
        assert integ["agendamento"]["situacao"] == "normal"
        assert integ["requisicoes"]["cota_diaria"] == 30000
        assert integ["requisicoes"]["usado_hoje"] >= 1
        assert "cliente" in integ["entidades"]
        assert "secret" not in json.dumps(body).lower()

        metrics = httpx.get(f"{url}/metrics", timeout=60).text
        assert 'crmsync_jobs_total{job="pull_entity",status="sucesso"} 1.0' in metrics
        assert 'crmsync_provider_http_requests_total{provider="gestao_click",status="200"}' in metrics
        assert f'crmsync_failed_items{{loja="{tenant.loja_id}",status="falhou"}} 1.0' in metrics
        assert "crmsync_quota_used_today" in metrics and "crmsync_sync_lag_seconds" in metrics

        listed = httpx.get(f"{url}/api/crm/falhas", headers=auth, timeout=60).json()
        assert [i["id"] for i in listed["itens"]] == [item_id]
        # Another store can neither see nor touch it.
        other_auth = {"Authorization": f"Bearer {other.api_key}"}
        assert httpx.get(f"{url}/api/crm/falhas", headers=other_auth, timeout=60).json()["itens"] == []
        assert httpx.post(f"{url}/api/crm/falhas/{item_id}/retry", headers=other_auth, timeout=60).status_code == 404
        assert httpx.post(f"{url}/api/crm/falhas/{item_id}/ignorar", headers=other_auth, timeout=60).status_code == 404

        r = httpx.post(f"{url}/api/crm/falhas/{item_id}/retry", headers=auth, timeout=60)
        assert r.status_code == 200 and r.json()["enfileirado"] is True
        assert r.json()["item"]["status"] == "pendente" and r.json()["item"]["tentativas"] == 0
        r = httpx.post(f"{url}/api/crm/falhas/{item_id}/ignorar", headers=auth, timeout=60)
        assert r.status_code == 200 and r.json()["item"]["status"] == "ignorado"


def test_cli_retry_and_ignore(rt_env: Env) -> None:
    tenant = make_tenant("http://127.0.0.1:9", access_token="st3", secret_access_token="sst3")
    first, second = _failed_item(tenant, 10), _failed_item(tenant, 11)
    runner = CliRunner()
    result = runner.invoke(cli_app, ["retry", "--id", str(first), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["total"] == 1 and data["itens"][0]["status"] == "pendente" and data["itens"][0]["enfileirado"]
    result = runner.invoke(cli_app, ["ignore", str(second)])
    assert result.exit_code == 0 and "ignorado" in result.stdout
    result = runner.invoke(cli_app, ["retry", "--loja", str(tenant.loja_id)])
    assert result.exit_code == 0  # the pending one again (already queued); the ignored one stays
    with session_scope() as s:
        statuses = dict(s.execute(select(CrmItemFalho.id, CrmItemFalho.status)).all())
    assert statuses == {first: "pendente", second: "ignorado"}
    result = runner.invoke(cli_app, ["ignore", "999"])
    assert result.exit_code == 2 and "não encontrado" in result.output
