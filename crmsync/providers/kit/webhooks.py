"""Webhook signatures in the HubSpot v3 style, for providers that sign their deliveries.

``sha256=<hex HMAC-SHA256(secret, f"{timestamp}.{raw body}")>``: the sandbox's emitter signs
this way, and a provider whose CRM has another scheme overrides ``verify_webhook``. Where the
delivery's *content* points (which record) is the provider's ``webhook_target``.
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["expected_signature", "signature_matches"]


def expected_signature(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def signature_matches(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    """Constant-time comparison of a delivery's signature with the one it should carry."""
    return hmac.compare_digest(signature.strip().encode(), expected_signature(secret, timestamp, body).encode())
