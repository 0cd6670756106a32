"""The scheduler plans with the daily quota and the time zone its day follows, which the
provider class declares: read without decrypting a credential or building a provider, so
an integration whose credentials cannot be opened (a rotated encryption key, a broken
row) is still planned inside its quota."""

from __future__ import annotations

import pytest

from crmsync.db.sync import CrmIntegracao
from crmsync.providers.gestaoclick.provider import DAILY_QUOTA
from crmsync.runtime.scheduler import capabilities_of


def _integration(provider: str, config: dict[str, object]) -> CrmIntegracao:
    # Credentials that no key decrypts: reading the capabilities must not need them.
    return CrmIntegracao(
        id_loja=1, provider=provider, base_url="http://127.0.0.1:9", credenciais="not-a-token", config=config
    )


@pytest.mark.parametrize(
    ("provider", "config", "expected"),
    [
        ("gestao_click", {}, (DAILY_QUOTA, "America/Sao_Paulo")),
        ("gestao_click", {"timezone": "America/Manaus"}, (DAILY_QUOTA, "America/Manaus")),
        ("suitecrm", {"timezone": "America/Manaus"}, (None, "UTC")),
        ("no_such_provider", {"timezone": "America/Manaus"}, (None, "America/Manaus")),
    ],
)
def test_capabilities_come_from_the_provider_class(
    provider: str, config: dict[str, object], expected: tuple[int | None, str]
) -> None:
    assert capabilities_of(_integration(provider, config)) == expected
