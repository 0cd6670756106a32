"""Webhook signatures in the HubSpot v3 style, for providers that sign their deliveries.

``sha256=<hex HMAC-SHA256(secret, f"{timestamp}.{delivery id}.{raw body}")>``: the delivery id
is signed too, so a captured delivery cannot be replayed under a new id. The sandbox's emitter
signs this way, and a provider whose CRM has another scheme overrides ``verify_webhook``. Where the
delivery's *content* points (which record) is the provider's ``webhook_target``.
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["expected_signature", "signature_matches"]


def expected_signature(secret: str, timestamp: str, body: bytes, delivery_id: str = "") -> str:
    signed = timestamp.encode() + b"." + delivery_id.encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signature_matches(secret: str, timestamp: str, body: bytes, signature: str, delivery_id: str = "") -> bool:
    """Constant-time comparison of a delivery's signature with the one it should carry."""
    expected = expected_signature(secret, timestamp, body, delivery_id)
    return hmac.compare_digest(signature.strip().encode(), expected.encode())
