"""Find provider adapters through the `crmsync.providers` entry-point group.

Why entry points: a third party adds a CRM by installing a package that declares
`[project.entry-points."crmsync.providers"] my_crm = "pkg.module:MyProvider"`; nothing in
crmsync has to change or import it by name.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from crmsync.config import IntegrationConfig
from crmsync.providers.base import Provider
from crmsync.settings import Settings

GROUP = "crmsync.providers"


def _entry_points() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def available_providers() -> list[str]:
    """Keys of every installed provider, sorted ("gestao_click", ...)."""
    return sorted(_entry_points())


def provider_class(key: str) -> Any:
    """The class registered under `key`; LookupError naming the known keys otherwise."""
    eps = _entry_points()
    if key not in eps:
        known = ", ".join(sorted(eps)) or "nenhum"
        raise LookupError(f"provedor desconhecido '{key}' (instalados: {known})")
    return eps[key].load()


def open_provider(
    key: str,
    *,
    base_url: str,
    credentials: Mapping[str, str],
    config: IntegrationConfig | None = None,
    settings: Settings | None = None,
    run_id: str | None = None,
) -> Provider:
    """Instantiate provider `key` for one integration.

    Every provider class takes these keyword arguments; the instance owns its HTTP
    client, so the caller closes it (`provider.close()`) when the run ends.
    """
    cls = provider_class(key)
    provider = cls(base_url=base_url, credentials=credentials, config=config, settings=settings, run_id=run_id)
    if not isinstance(provider, Provider):
        raise TypeError(f"o provedor '{key}' não implementa o protocolo Provider")
    return provider
