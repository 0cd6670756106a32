"""Find provider adapters through the `crmsync.providers` entry-point group.

Why entry points: a third party adds a CRM by installing a package that declares
`[project.entry-points."crmsync.providers"] my_crm = "pkg.module:MyProvider"`; nothing in
crmsync has to change or import it by name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cache
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from pydantic import ValidationError as PydanticValidationError

from crmsync.config import ConfigError, IntegrationConfig
from crmsync.providers.base import Provider
from crmsync.providers.kit.webhooks import signature_matches
from crmsync.settings import Settings

GROUP = "crmsync.providers"


@cache
def _entry_points() -> dict[str, EntryPoint]:
    """Read once per process: `entry_points()` scans every installed distribution's metadata
    (about 9% of a busy `serve` process's CPU when each push job asked again); a provider
    package installed later is seen after a restart, as any code change is."""
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
    # Checked once per class (a runtime Protocol's isinstance looks up every member: a
    # noticeable share of a job's CPU when a provider is opened per job)
    if cls not in _CONFORMING:
        if not isinstance(provider, Provider):
            raise TypeError(f"o provedor '{key}' não implementa o protocolo Provider")
        _CONFORMING.add(cls)
    return provider


_CONFORMING: set[type] = set()  # provider classes whose instances passed the Provider check


def display_name(key: str) -> str:
    """The name a person reads for provider `key` ("GestãoClick", "SuiteCRM"); the key
    itself when the provider is not installed or does not say."""
    try:
        cls = provider_class(key)
    except Exception:  # an unknown key or a broken plug-in: the key is still a name
        return key
    return str(getattr(cls, "display_name", "") or key)


def webhook_target(key: str, payload: Mapping[str, Any]) -> tuple[str, str] | None:
    """(entity, external id) a delivery to provider `key` is about; None when the provider
    receives no webhooks or the delivery names nothing we sync."""
    parse = getattr(provider_class(key), "webhook_target", None)
    return None if parse is None else parse(payload)


def webhook_signature_check(key: str) -> Callable[[str, str, bytes, str, str], bool]:
    """How provider `key` checks a delivery's signature (secret, timestamp, body,
    signature, delivery id); the kit's HMAC scheme when the provider has none of its own."""
    try:
        check = getattr(provider_class(key), "verify_webhook", None)
    except LookupError:
        check = None
    return check if callable(check) else signature_matches


def lists_changed_since(key: str) -> bool:
    """Whether provider `key` polls with a changed-since listing (then deletes need the
    scheduler's periodic full scan); read without opening a provider."""
    try:
        cls = provider_class(key)
    except LookupError:
        return False
    return bool(getattr(cls, "lists_changed_since", False))


# What a provider without `credential_fields` asks for (GestãoClick's token pair).
DEFAULT_CREDENTIAL_FIELDS = ("access_token", "secret_access_token")


def credential_fields(key: str) -> tuple[str, ...]:
    """The credentials provider `key` needs, in the order their hash is taken."""
    return tuple(getattr(provider_class(key), "credential_fields", DEFAULT_CREDENTIAL_FIELDS))


def validate_options(key: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """The config's ``opcoes_provedor`` validated by provider `key` (its own model), in the
    stored form; `ConfigError` naming the key otherwise. A provider without options
    accepts none, so a typo or options meant for another provider are not silently ignored."""
    cls = provider_class(key)
    validate = getattr(cls, "validate_options", None)
    if validate is None:
        if options:
            name = display_name(key)
            raise ConfigError(f"configuração inválida em 'opcoes_provedor': o {name} não tem opções de provedor")
        return {}
    try:
        return dict(validate(options))
    except PydanticValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        where = "opcoes_provedor" + (f".{loc}" if loc else "")
        raise ConfigError(f"configuração inválida em '{where}': {err['msg'].removeprefix('Value error, ')}") from None
