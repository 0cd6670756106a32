"""Credentials checked when they are given: one cheap authenticated request to the CRM before
an integration is stored or its connection changed, so a typo is refused at once (exit 2, one
line) instead of surfacing hours later as failed runs.

What the person reads says what is wrong: ``client_id desconhecido no SuiteCRM (X)``,
``credenciais recusadas pelo ...``; a CRM that cannot be reached is "não foi possível
verificar" (never mistaken for a refusal), with the option that skips the check offline.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from crmsync.config import parse_config
from crmsync.providers.base import AuthError, ProviderError
from crmsync.providers.registry import display_name, open_provider
from crmsync.services.errors import InvalidInputError

SKIP_HINT = "use --sem-verificar para gravar sem verificar"


def check_connection(
    provider: str, base_url: str, credentials: Mapping[str, str], config: Mapping[str, Any] | None = None
) -> None:
    """Raise `InvalidInputError` unless the CRM accepts these credentials (one request,
    plus the token request of an OAuth2 provider)."""
    name = display_name(provider)
    try:
        opened = open_provider(
            provider, base_url=base_url, credentials=dict(credentials), config=parse_config(dict(config or {}))
        )
    except (AuthError, ValueError) as exc:
        raise InvalidInputError(str(exc)) from None
    try:
        transport = getattr(opened, "transport", None)
        if transport is not None:
            transport.max_attempts = 1  # a check: one try says enough, and never five of a refusal
        check = getattr(opened, "check_access", None)
        if callable(check):
            check()
        else:
            opened.list_page(opened.capabilities.entities[0], 1)
    except AuthError as exc:
        text = exc.reason
        if not text.startswith("client_id desconhecido") and "credenciais recusadas" not in text:
            text = f"credenciais recusadas pelo {name}: {text}"
        raise InvalidInputError(text) from None
    except ProviderError as exc:
        raise InvalidInputError(f"não foi possível verificar a conexão com o {name}: {exc} ({SKIP_HINT})") from None
    finally:
        opened.close()


__all__ = ["SKIP_HINT", "check_connection"]
