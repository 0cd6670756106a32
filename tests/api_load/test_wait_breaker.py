"""Issue #20: `?esperar=true` against a hung CRM costs one timeout, then the breaker, as jobs
do: the timed-out request is not sent again, and the next manual run answers 503 with
Retry-After without calling the CRM. Counted on the hung CRM's side (connections it took),
not with a clock."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from crmsync.api.app import create_app
from crmsync.db.session import get_sessionmaker
from crmsync.runtime.queue import reset_queue
from crmsync.sandbox.hung import HungServer
from crmsync.services.integracoes import create_integracao
from crmsync.services.lojas import create_loja
from crmsync.settings import reset_settings_cache


@pytest.fixture
def hung() -> Iterator[HungServer]:
    with HungServer() as server:
        yield server


@pytest.mark.parametrize("path", ["/api/crm/sync?esperar=true", "/api/crm/sync/import/clientes?esperar=true"])
def test_a_manual_run_on_a_hung_crm_costs_one_timeout_then_the_breaker(
    app_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, hung: HungServer, path: str
) -> None:
    monkeypatch.setenv("CRMSYNC_HTTP_TIMEOUT_SECONDS", "1")
    reset_settings_cache()
    reset_queue()
    with get_sessionmaker()() as db:
        loja, key = create_loja(db, "Loja Pendurada")
        create_integracao(
            db,
            loja_id=loja.id,
            provider="gestao_click",
            base_url=hung.base_url,
            access_token="tok",
            secret_access_token="sec",
        )
    headers = {"Authorization": f"Bearer {key}"}
    with TestClient(create_app()) as client:
        first = client.post(path, headers=headers)
        assert first.status_code == 503, first.text
        assert hung.accepted == 1  # one request, timed out, not sent again
        second = client.post(path, headers=headers)
        assert second.status_code == 503, second.text
        assert second.headers["Retry-After"].isdigit()
        assert hung.accepted == 1  # the breaker answered; the CRM was not called
