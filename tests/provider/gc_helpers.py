"""Helpers for provider tests: credentials of the sandbox and valid Brazilian documents built
from a counter (deterministic, check digits right)."""

from __future__ import annotations

import os
from typing import Any

import pytest

ACCESS = "sandbox-access-token"
SECRET = "sandbox-secret-token"
CREDENTIALS = {"access_token": ACCESS, "secret_access_token": SECRET}


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


def make_cpf(n: int) -> str:
    """The n-th valid CPF (digits only)."""
    base = [int(d) for d in f"{(n * 7919 + 100000003) % 10**9:09d}"]
    for length in (9, 10):
        total = sum(d * w for d, w in zip(base, range(length + 1, 1, -1), strict=True))
        digit = (total * 10) % 11
        base.append(0 if digit == 10 else digit)
    return "".join(map(str, base))


def cliente(n: int, **extra: Any) -> dict[str, Any]:
    return {
        "tipo_pessoa": "PF",
        "nome": f"Cliente Teste {n}",
        "cpf": make_cpf(n),
        "email": f"cliente{n}@example.com",
        "telefone": "+551135228899",
        "celular": "+5596991949455",
        "cep": "31260210",
        "logradouro": "Rua Cassiano Campolina",
        "numero": str(n),
        "bairro": "Dona Clara",
        "cidade": "Belo Horizonte",
        "estado": "MG",
        "ativo": True,
        **extra,
    }
