"""Helpers for provider tests: credentials of the sandbox and valid Brazilian documents built
from a counter (deterministic, check digits right)."""

from __future__ import annotations

import os
from typing import Any

import pytest
from support.documents import make_cpf, pf_cliente

ACCESS = "sandbox-access-token"
SECRET = "sandbox-secret-token"
CREDENTIALS = {"access_token": ACCESS, "secret_access_token": SECRET}
__all__ = ["ACCESS", "CREDENTIALS", "SECRET", "cliente", "make_cpf", "redis_url_or_skip"]


def redis_url_or_skip() -> str:
    """The test Redis; skipped when it is not there, a failure under CI."""
    redis = pytest.importorskip("redis")
    url = os.environ.get("CRMSYNC_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    try:
        redis.Redis.from_url(url).ping()
    except Exception as exc:  # any client error means no server
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"Redis unreachable: {exc}")
        pytest.skip(f"Redis unreachable: {exc}")
    return url


def cliente(n: int, **extra: Any) -> dict[str, Any]:
    return pf_cliente(
        n,
        "Teste",
        "cliente",
        celular="+5596991949455",
        cep="31260210",
        logradouro="Rua Cassiano Campolina",
        numero=str(n),
        bairro="Dona Clara",
        ativo=True,
        **extra,
    )
