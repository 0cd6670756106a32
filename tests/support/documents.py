"""Valid Brazilian documents and a canonical cliente built from a counter: deterministic, check
digits right, so a provider or the API takes them as a real user's data."""

from __future__ import annotations

from typing import Any


def cpf_from(base: int) -> str:
    """The CPF (digits only) whose first nine digits are `base` (mod 10⁹), check digits computed."""
    digits = [int(d) for d in f"{base % 10**9:09d}"]
    for first_weight in (10, 11):  # each check digit weighs the digits before it, 10 (11) down to 2
        rest = sum(d * w for d, w in zip(digits, range(first_weight, 1, -1), strict=True)) % 11
        digits.append(0 if rest < 2 else 11 - rest)
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
