"""Webhooks: forged and stale deliveries are refused with 401 and stored nowhere; repeated
and reordered deliveries converge on the CRM's current state; a stored delivery whose job
was lost is processed by the sweep."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import httpx
from sqlalchemy import func, select
from support.ports import held_port

from crmsync.db.local import Cliente
from crmsync.db.session import session_scope
from crmsync.db.sync import CrmEntityLink, CrmWebhookInbox
from crmsync.runtime.embedded import EmbeddedRuntime
from crmsync.sandbox.server import SandboxServer
from runtime.conftest import Env, Tenant, make_tenant, wait_for


def _sign(secret: str, ts: str, body: bytes, delivery: str) -> str:
    """The documented scheme, written out here (not imported): HMAC of "ts.delivery.body"."""
    signed = ts.encode() + b"." + delivery.encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def _post(
    url: str,
    secret: str,
    payload: dict[str, Any],
    *,
    ts: int | None = None,
    signature: str | None = None,
    delivery: str | None = None,
) -> httpx.Response:
    body = json.dumps(payload).encode()
    stamp = str(int(time.time()) if ts is None else ts)
    delivery_id = delivery or payload.get("delivery_id") or str(uuid.uuid4())
    headers = {
        "Content-Type": "application/json",
        "X-Sandbox-Delivery": delivery_id,
        "X-Sandbox-Timestamp": stamp,
        "X-Sandbox-Signature": signature if signature is not None else _sign(secret, stamp, body, delivery_id),
    }
    return httpx.post(url, content=body, headers=headers, timeout=60)


def _payload(ext_id: str, data: dict[str, Any] | None = None, evento: str = "cliente.atualizado") -> dict[str, Any]:
    return {
        "delivery_id": str(uuid.uuid4()),
        "evento": evento,
        "recurso": "clientes",
        "id": ext_id,
        "ocorrido_em": "2026-01-01T00:00:00Z",
        "data": data or {"id": ext_id},
    }


def _inbox_count() -> int:
    with session_scope() as s:
        return int(s.scalar(select(func.count(CrmWebhookInbox.id))) or 0)


def _hook_url(port: int, tenant: Tenant) -> str:
    return f"http://127.0.0.1:{port}/api/crm/webhook/gestao_click/{tenant.webhook_token}"


def test_forged_and_stale_deliveries_are_refused_and_not_stored(rt_env: Env, api_server: Any) -> None:
    tenant = make_tenant("http://127.0.0.1:9", access_token="w1", secret_access_token="ws1")
    api = api_server()
    url = _hook_url(api.port, tenant)
    payload = _payload("123")
    now = int(time.time())

    forged = _post(url, tenant.webhook_secret, payload, signature="sha256=" + "0" * 64)
    wrong_key = _post(url, "not-the-secret", payload)
    stale = _post(url, tenant.webhook_secret, payload, ts=now - 301)
    future = _post(url, tenant.webhook_secret, payload, ts=now + 600)
    unsigned = _post(url, tenant.webhook_secret, payload, signature="")
    assert [r.status_code for r in (forged, wrong_key, stale, future, unsigned)] == [401] * 5
    assert all("secret" not in r.text.lower() for r in (forged, stale))
    # A tampered body with the original signature is forged too.
    body = json.dumps(payload).encode()
    sig = _sign(tenant.webhook_secret, str(now), body, "x")
    tampered = httpx.post(
        url,
        content=body.replace(b"123", b"999"),
        headers={"X-Sandbox-Timestamp": str(now), "X-Sandbox-Signature": sig, "X-Sandbox-Delivery": "x"},
        timeout=60,
    )
    assert tampered.status_code == 401
    # The signature covers the delivery id: a captured delivery replayed under a fresh id
    # (to get past the de-duplication) is forged too.
    replayed = httpx.post(
        url,
        content=body,
        headers={"X-Sandbox-Timestamp": str(now), "X-Sandbox-Signature": sig, "X-Sandbox-Delivery": "y"},
        timeout=60,
    )
    assert replayed.status_code == 401
    unknown = _post(url.replace(tenant.webhook_token, "nope"), tenant.webhook_secret, payload)
    assert unknown.status_code == 404
    assert _inbox_count() == 0

    ok = _post(url, tenant.webhook_secret, payload)
    assert ok.status_code == 202 and ok.json()["status"] == "recebido"
    again = _post(url, tenant.webhook_secret, payload)  # same delivery id
    assert again.status_code == 202 and again.json()["status"] == "duplicado"
    assert _inbox_count() == 1


def test_an_integration_without_a_webhook_secret_refuses_deliveries(rt_env: Env, api_server: Any) -> None:
    from crmsync.db.sync import CrmIntegracao

    tenant = make_tenant("http://127.0.0.1:9", access_token="w9", secret_access_token="ws9")
    with session_scope() as s:
        row = s.get(CrmIntegracao, tenant.integracao_id)
        assert row is not None
        row.webhook_secret = None
    url = _hook_url(api_server().port, tenant)
    payload = _payload("55")
    for secret in ("", tenant.webhook_secret):  # unsigned, or signed with the old secret
        resp = httpx.post(
            url,
            content=json.dumps(payload).encode(),
            headers={"X-Sandbox-Timestamp": str(int(time.time())), "X-Sandbox-Delivery": "d1"},
            timeout=60,
        )
        assert resp.status_code == 401, resp.text
        assert _post(url, secret or "x", payload).status_code == 401
    assert _inbox_count() == 0


def test_repeated_and_reordered_deliveries_converge(rt_env: Env, api_server: Any) -> None:
    from crmsync.runtime.jobs import pull_entity

    api = api_server()
    held = held_port()
    sb_port = int(held.getsockname()[1])
    tenant = make_tenant(f"http://127.0.0.1:{sb_port}", access_token="w2", secret_access_token="ws2")
    url = _hook_url(api.port, tenant)
    held.close()  # the sandbox binds it next
    with SandboxServer(
        port=sb_port,
        access_token="w2",
        secret_access_token="ws2",
        seed=5,
        seed_records={"clientes": 8},
        webhook_url=url,
        webhook_secret=tenant.webhook_secret,
    ) as sb:
        assert pull_entity(tenant.integracao_id, "cliente") == "sucesso"
        with session_scope() as s:
            links = dict(
                s.execute(
                    select(CrmEntityLink.external_id, CrmEntityLink.entity_id).where(
                        CrmEntityLink.id_integracao == tenant.integracao_id
                    )
                ).all()
            )
        ext_a, ext_b = sorted(links)[:2]

        def local_nome(ext: str) -> str | None:
            with session_scope() as s:
                row = s.get(Cliente, links[ext])
                return None if row is None else row.nome

        with EmbeddedRuntime(scheduler=False):  # the webhook path alone, no polling
            old_data = sb.panel_get("clientes", ext_a)
            sb.panel_update("clientes", ext_a, {"nome": "Primeira Versão"})
            sb.panel_update("clientes", ext_a, {"nome": "Versão Final"})
            wait_for(lambda: local_nome(ext_a) == "Versão Final", what="webhook applied")

            # Reordered: an older delivery (carrying old data) arriving last changes nothing.
            late = _post(url, tenant.webhook_secret, _payload(ext_a, old_data))
            assert late.status_code == 202
            # Repeated: the same delivery twice is stored once.
            dup = _payload(ext_b, {"id": ext_b, "nome": "irrelevante"})
            sb.panel_update("clientes", ext_b, {"nome": "Mudou No CRM"})
            first = _post(url, tenant.webhook_secret, dup)
            second = _post(url, tenant.webhook_secret, dup)
            assert (first.json()["status"], second.json()["status"]) == ("recebido", "duplicado")
            wait_for(lambda: local_nome(ext_b) == "Mudou No CRM", what="repeated delivery applied")

            # A record created in the CRM arrives by its webhook.
            created = sb.panel_create(
                "clientes",
                {"nome": "Nova Pelo Webhook", "tipo_pessoa": "PF", "email": "nova.webhook@example.com"},
            )

            def imported() -> bool:
                with session_scope() as s:
                    return s.scalar(select(Cliente.id).where(Cliente.email == "nova.webhook@example.com")) is not None

            wait_for(imported, what="created by webhook")
            sb.flush_webhooks()

            def all_processed() -> bool:
                with session_scope() as s:
                    return not s.scalar(
                        select(func.count(CrmWebhookInbox.id)).where(CrmWebhookInbox.status == "recebido")
                    )

            wait_for(all_processed, what="inbox drained")
        assert local_nome(ext_a) == "Versão Final"
        with session_scope() as s:
            n = s.scalar(select(func.count(Cliente.id)).where(Cliente.email == "nova.webhook@example.com"))
        assert n == 1
        assert created["id"]


def test_stored_delivery_whose_job_was_lost_is_processed_by_the_sweep(rt_env: Env) -> None:
    from crmsync.runtime.jobs import pull_entity

    with SandboxServer(access_token="w3", secret_access_token="ws3", seed=6, seed_records={"clientes": 3}) as sb:
        tenant = make_tenant(sb.base_url, access_token="w3", secret_access_token="ws3")
        assert pull_entity(tenant.integracao_id, "cliente") == "sucesso"
        ext = sorted(r["id"] for r in sb.panel_list("clientes"))[0]
        sb.panel_update("clientes", ext, {"nome": "Chegou Pelo Inbox"})
        with session_scope() as s:  # stored and acknowledged, but the queue never got the job
            s.add(
                CrmWebhookInbox(
                    id_integracao=tenant.integracao_id,
                    delivery_id="perdido-1",
                    evento="cliente.atualizado",
                    payload=_payload(str(ext)),
                    status="recebido",
                )
            )
        with EmbeddedRuntime(scheduler=True):

            def processed() -> bool:
                with session_scope() as s:
                    row = s.scalar(select(CrmWebhookInbox).where(CrmWebhookInbox.delivery_id == "perdido-1"))
                    return row is not None and row.status == "processado"

            wait_for(processed, what="sweep processed the stored delivery")
        with session_scope() as s:
            assert s.scalar(select(Cliente.id).where(Cliente.nome == "Chegou Pelo Inbox")) is not None
