"""Receiving provider webhooks (the operation behind `POST /api/crm/webhook/{provider}/{token}`).

The URL token identifies the integration (one secret URL per integration). Where the
provider signs its deliveries (the sandbox's emitter does; real GestãoClick has no webhooks),
the signature and the timestamp are checked before anything is stored: a forged or stale
(more than 5 minutes off) delivery is refused with 401 and leaves no trace. An accepted
delivery is stored raw in `crm_webhook_inbox`, de-duplicated by its delivery id, and
acknowledged with 202 at once; processing goes through the same pipeline as polling (pull
that one record, under its lock), so deliveries repeated or out of order converge. Polling
stays as the reconciler: a delivery that never arrives changes nothing in the end state.

Signature scheme (HubSpot v3 style): `X-Sandbox-Signature: sha256=<hex HMAC-SHA256(secret,
f"{X-Sandbox-Timestamp}.{X-Sandbox-Delivery}.{raw body}")>`; `X-Sandbox-Delivery` carries the
delivery id, and the signature covers it, so a captured delivery cannot be replayed under a
fresh id to get past the de-duplication (an absent header signs as empty). The
`X-Crmsync-*` names are accepted too, for other senders using the same scheme.

An integration without a webhook secret refuses every delivery (401): an unsigned endpoint
would let anyone who learns the URL make the store pull records at will.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from crmsync.db.session import get_sessionmaker
from crmsync.db.sync import CrmIntegracao, CrmWebhookInbox
from crmsync.providers.kit.webhooks import signature_matches
from crmsync.providers.registry import webhook_signature_check
from crmsync.runtime import defer
from crmsync.runtime.jobs import enqueue_webhook
from crmsync.runtime.options import runtime_options
from crmsync.services.errors import NotFoundError, ServiceError

log = logging.getLogger("crmsync.webhooks")


class WebhookRefused(ServiceError):
    """A forged or stale delivery (nothing stored)."""

    status_code = 401

    def __init__(self) -> None:
        super().__init__("assinatura ou carimbo de tempo inválido")


class WebhookBodyInvalid(ServiceError):
    """The body is not a JSON object (nothing stored)."""

    status_code = 400


def verify(
    secret: str | None,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    *,
    tolerance: int,
    now: float | None = None,
    check: Callable[[str, str, bytes, str, str], bool] = signature_matches,
    delivery_id: str | None = None,
) -> str | None:
    """None when the delivery is authentic and fresh; otherwise the reason (for the log only)."""
    if not secret:
        return "integração sem segredo de webhook: entregas recusadas"
    now = time.time() if now is None else now
    try:
        ts = int(str(timestamp).strip())
    except (TypeError, ValueError):
        return "carimbo de tempo ausente ou inválido"
    if abs(now - ts) > tolerance:
        return "entrega fora da janela de tempo (antiga ou adiantada)"
    if not signature:
        return "assinatura ausente"
    if not check(secret, str(timestamp), body, signature, delivery_id or ""):  # the provider's own scheme
        return "assinatura inválida"
    return None


MAX_JSON_DEPTH = 32  # a webhook is an event and an id or two; deeper is an attack or a bug


def json_depth_exceeds(body: bytes, limit: int) -> bool:
    """Whether the JSON text nests objects/arrays deeper than ``limit``, read by counting
    brackets outside strings before parsing it (the parser would recurse once per level
    and the stored payload would not serialise back past 255 levels)."""
    depth = 0
    in_string = escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x7B, 0x5B):  # { [
            depth += 1
            if depth > limit:
                return True
        elif byte in (0x7D, 0x5D):
            depth -= 1
    return False


def accept_delivery(
    provider: str,
    token: str,
    body: bytes,
    timestamp: str | None,
    signature: str | None,
    delivery_header: str | None,
) -> dict[str, Any]:
    """Verify, store (once per delivery id) and hand the delivery to the queue; the answer to
    acknowledge it with. Refusals raise `NotFoundError`, `WebhookRefused` or `WebhookBodyInvalid`."""
    with get_sessionmaker()() as session:
        integ = session.scalar(select(CrmIntegracao).where(CrmIntegracao.webhook_token == token))
        if integ is None or not hmac.compare_digest(integ.provider.encode(), provider.encode()):
            raise NotFoundError("webhook não encontrado")
        problem = verify(
            integ.webhook_secret,
            timestamp,
            signature,
            body,
            tolerance=runtime_options().webhook_tolerance_seconds,
            check=webhook_signature_check(integ.provider),
            delivery_id=delivery_header,
        )
        if problem is not None:
            log.warning("webhook recusado (integração %s): %s", integ.id, problem)
            raise WebhookRefused()
        if json_depth_exceeds(body, MAX_JSON_DEPTH):
            raise WebhookBodyInvalid(f"JSON aninhado demais (máximo {MAX_JSON_DEPTH} níveis)")
        try:
            payload = json.loads(body or b"{}")
        except (ValueError, RecursionError):
            raise WebhookBodyInvalid("corpo não é JSON válido") from None
        if not isinstance(payload, dict):
            raise WebhookBodyInvalid("corpo deve ser um objeto JSON")
        delivery_id = str(delivery_header or payload.get("delivery_id") or "").strip()[:100]
        if not delivery_id:
            delivery_id = "sha256:" + hashlib.sha256(body).hexdigest()[:64]
        if not integ.ativo:
            return {"status": "ignorado", "delivery_id": delivery_id, "motivo": "integração inativa"}
        existing = session.scalar(
            select(CrmWebhookInbox.id).where(
                CrmWebhookInbox.id_integracao == integ.id, CrmWebhookInbox.delivery_id == delivery_id
            )
        )
        if existing is not None:
            return {"status": "duplicado", "delivery_id": delivery_id}
        row = CrmWebhookInbox(
            id_integracao=integ.id,
            delivery_id=delivery_id,
            evento=str(payload.get("evento") or "")[:60] or None,
            payload=payload,
            status="recebido",
        )
        session.add(row)
        try:
            session.commit()
        except IntegrityError:  # the same delivery, concurrently
            session.rollback()
            return {"status": "duplicado", "delivery_id": delivery_id}
        inbox_id = row.id
    defer(enqueue_webhook, inbox_id)
    return {"status": "recebido", "delivery_id": delivery_id}
