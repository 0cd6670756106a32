"""Encryption of provider credentials at rest (Fernet) and hashing of store API keys."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from crmsync.settings import get_settings


def _fernet() -> Fernet:
    return Fernet(get_settings().resolved_secret_key().encode())


def encrypt_json(data: dict[str, Any]) -> str:
    return _fernet().encrypt(json.dumps(data).encode()).decode()


def decrypt_json(token: str) -> dict[str, Any]:
    try:
        value = json.loads(_fernet().decrypt(token.encode()))
    except InvalidToken as exc:  # wrong CRMSYNC_SECRET_KEY: say so without echoing anything
        raise ValueError("stored credentials cannot be decrypted with the current CRMSYNC_SECRET_KEY") from exc
    if not isinstance(value, dict):
        raise ValueError("stored credentials are not an object")
    return value


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def api_key_matches(key: str, hashed: str) -> bool:
    return hmac.compare_digest(hash_api_key(key), hashed)


def mask_secret(value: str | None) -> str:
    """Show enough of a secret to recognise it, never enough to use it."""
    if not value:
        return ""
    return value[:4] + "…" if len(value) > 8 else "…"
