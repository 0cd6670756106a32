"""Valid Brazilian documents and a canonical cliente built from a counter: deterministic, check
digits right, so a provider or the API takes them as a real user's data."""

from __future__ import annotations

from typing import Any


def cpf_from(base: int) -> str:
    """The CPF (digits only) whose first nine digits are `base` (mod 10⁹), check digits computed."""
    digits = [int(d) for d in f"{base % 10**9:09d}"]
    for length in (9, 10):
        total = sum(d * w for d, w in zip(digits, range(length + 1, 1, -1), strict=True))
        digit = (total * 10) % 11
        digits.append(0 if digit == 10 else digit)
    return "".join(map(str, digits))


def make_cpf(n: int) -> str:
    """The n-th valid CPF (digits only): spread out, so neighbours share no prefix."""
    return cpf_from(n * 7919 + 100000003)


def pf_cliente(n: int, label: str, email_user: str, **extra: Any) -> dict[str, Any]:
    """The n-th canonical PF cliente ("Cliente <label> n", <email_user>n@example.com) every provider can hold."""
    return {
        "tipo_pessoa": "PF",
        "nome": f"Cliente {label} {n}",
        "cpf": make_cpf(n),
        "email": f"{email_user}{n}@example.com",
        "telefone": "+551135228899",
        "cidade": "Belo Horizonte",
        "estado": "MG",
        **extra,
    }
