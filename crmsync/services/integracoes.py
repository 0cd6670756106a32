"""Integrations (crm_integracoes): connect a store to a provider, change its config,
switch it on and off.

Credentials are encrypted at rest (Fernet, `CRMSYNC_SECRET_KEY`) and only ever shown
masked. `credenciais_hash` identifies the provider account, so every integration of one
company shares one rate limit and quota. A config is validated in full before it is
stored; an invalid one is refused with the key named and the old config stays.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlparse

from sqlalchemy import select
from sqlalchemy.orm import Session

from crmsync.config import IntegrationConfig, load_config_file, parse_config
from crmsync.crypto import decrypt_json, encrypt_json, mask_secret
from crmsync.db.sync import CrmIntegracao
from crmsync.engine.ledger import pending_due_now
from crmsync.engine.unique_keys import refresh_store_keys
from crmsync.providers.registry import (
    available_providers,
    credential_fields,
    display_name,
    validate_options,
)
from crmsync.runtime.breaker import reset_breaker
from crmsync.runtime.queue import get_state
from crmsync.services.connection_check import check_connection
from crmsync.services.crm_address import check_crm_host
from crmsync.services.errors import DuplicateError, InvalidInputError, NotFoundError
from crmsync.services.ids import valid_id
from crmsync.services.lojas import get_loja

log = logging.getLogger("crmsync.services")


def credentials_hash(*values: str) -> str:
    return hashlib.sha256("\x00".join(values).encode()).hexdigest()


def config_to_column(
    config: IntegrationConfig | Mapping[str, Any] | None, provider: str | None = None
) -> dict[str, Any]:
    """Validate (raising `ConfigError` naming the key) and dump in the stored form; with
    `provider`, its own options (``opcoes_provedor``) are validated by that provider."""
    model = config if isinstance(config, IntegrationConfig) else parse_config(config)
    dumped = model.model_dump(by_alias=False)
    if provider is not None:
        dumped["opcoes_provedor"] = validate_options(provider, model.opcoes_provedor)
    return dumped


def _check_base_url(base_url: str) -> str:
    url = (base_url or "").strip().rstrip("/")
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc or not parsed.hostname:
        raise InvalidInputError("URL inválida (use http:// ou https://)", ("base_url",))
    if "@" in parsed.netloc:
        # Credentials in a URL end up in logs and error messages: they go in the token fields.
        raise InvalidInputError("a URL não pode conter usuário ou senha (use os campos de token)", ("base_url",))
    if any(not c.isprintable() or c.isspace() for c in url):
        raise InvalidInputError("URL inválida (espaços ou caracteres de controle)", ("base_url",))
    if len(url) > 300:
        raise InvalidInputError("no máximo 300 caracteres", ("base_url",))
    check_crm_host(parsed.hostname)
    return url


def create_integracao(
    session: Session,
    *,
    loja_id: int,
    provider: str,
    base_url: str,
    access_token: str | None = None,
    secret_access_token: str | None = None,
    config: IntegrationConfig | Mapping[str, Any] | None = None,
    credentials: Mapping[str, str | None] | None = None,
    verify: bool = False,
) -> CrmIntegracao:
    """Connect a store to a provider and commit. One integration per (store, provider).

    Credentials are the provider's own (`credential_fields`: GestãoClick's token pair,
    SuiteCRM's ``client_id``/``client_secret``); ``access_token``/``secret_access_token``
    are GestãoClick's, kept as arguments for the callers that name them."""
    get_loja(session, loja_id)
    known = available_providers()
    if provider not in known:
        choices = ", ".join(known)
        raise InvalidInputError(f"provider desconhecido '{provider}' (use um de: {choices})", ("provider",))
    url = _check_base_url(base_url)
    given = {k: v for k, v in (credentials or {}).items() if v is not None}
    if access_token is not None:
        given.setdefault("access_token", access_token)
    if secret_access_token is not None:
        given.setdefault("secret_access_token", secret_access_token)
    creds: dict[str, str] = {}
    for name in credential_fields(provider):
        value = given.get(name)
        if not value or not str(value).strip():
            raise InvalidInputError(f"obrigatório para o {display_name(provider)}", (name,))
        creds[name] = str(value).strip()
    stored_config = config_to_column(config, provider)
    existing = session.scalar(
        select(CrmIntegracao).where(CrmIntegracao.id_loja == loja_id, CrmIntegracao.provider == provider)
    )
    if existing is not None:
        raise DuplicateError(f"a loja {loja_id} já tem uma integração {provider} (id {existing.id})")
    if verify:
        check_connection(provider, url, creds, stored_config)  # one request: refused here, not hours later
    integ = CrmIntegracao(
        id_loja=loja_id,
        provider=provider,
        ativo=True,
        base_url=url,
        credenciais=encrypt_json(creds),
        credenciais_hash=credentials_hash(*creds.values()),
        config=stored_config,
        webhook_token=secrets.token_urlsafe(24),
        webhook_secret=secrets.token_urlsafe(32),
    )
    session.add(integ)
    session.flush()
    refresh_store_keys(session, loja_id)  # its chaves_ignoradas now count for the store's keys
    session.commit()
    return integ


def list_integracoes(session: Session, loja_id: int | None = None) -> list[CrmIntegracao]:
    query = select(CrmIntegracao).order_by(CrmIntegracao.id)
    if loja_id is not None:
        if not valid_id(loja_id):
            return []
        query = query.where(CrmIntegracao.id_loja == loja_id)
    return list(session.scalars(query))


def get_integracao(session: Session, integracao_id: int) -> CrmIntegracao:
    integ = session.get(CrmIntegracao, integracao_id) if valid_id(integracao_id) else None
    if integ is None:
        raise NotFoundError(f"integração {integracao_id} não encontrada")
    return integ


def set_config(
    session: Session, integracao_id: int, config: IntegrationConfig | Mapping[str, Any] | None
) -> CrmIntegracao:
    """Replace the config. Validation happens before anything is written, so an invalid
    config (`ConfigError` naming the key) leaves the stored one untouched."""
    integ = get_integracao(session, integracao_id)
    integ.config = config_to_column(config, integ.provider)
    session.flush()
    refresh_store_keys(session, integ.id_loja)  # chaves_ignoradas may have changed
    session.commit()
    return integ


def set_config_file(session: Session, integracao_id: int, path: str) -> CrmIntegracao:
    return set_config(session, integracao_id, load_config_file(path))


def set_active(session: Session, integracao_id: int, ativo: bool) -> CrmIntegracao:
    integ = get_integracao(session, integracao_id)
    integ.ativo = ativo
    session.commit()
    return integ


def update_connection(
    session: Session,
    integracao_id: int,
    *,
    base_url: str | None = None,
    access_token: str | None = None,
    secret_access_token: str | None = None,
    credentials: Mapping[str, str | None] | None = None,
    verify: bool = False,
) -> CrmIntegracao:
    """Change where and as whom the integration calls its CRM, and commit. Each value is
    checked before anything is written. Credentials are the provider's own
    (`credential_fields`: GestãoClick's token pair, SuiteCRM's OAuth2 client) and change
    together (`credenciais_hash` names the company for its shared rate limit and quota);
    another provider's kind of credentials is refused, never stored in their place. With
    `verify`, the CRM is asked once whether it accepts the new connection."""
    integ = get_integracao(session, integracao_id)
    url = _check_base_url(base_url) if base_url is not None else None
    given = {k: v for k, v in (credentials or {}).items() if v is not None}
    if access_token is not None:
        given.setdefault("access_token", access_token)
    if secret_access_token is not None:
        given.setdefault("secret_access_token", secret_access_token)
    creds = _new_credentials(integ.provider, given)
    if verify and (creds is not None or url is not None):
        check_connection(integ.provider, url or integ.base_url, creds or get_credentials(integ), integ.config)
    if creds is not None:
        integ.credenciais = encrypt_json(creds)
        integ.credenciais_hash = credentials_hash(*creds.values())
    if url is not None:
        integ.base_url = url
    if url is not None or creds is not None:
        pending_due_now(session, integ.id)  # what waited for the old connection may go now
    session.commit()
    if url is not None or creds is not None:
        _reset_breaker(integ.id)
    return integ


def _new_credentials(provider: str, given: Mapping[str, str]) -> dict[str, str] | None:
    """The provider's full set of credentials from `given` (None: none given); a field of
    another provider's kind, a missing or an empty one is refused naming it."""
    if not given:
        return None
    fields = credential_fields(provider)
    foreign = [k for k in given if k not in fields]
    if foreign:
        raise InvalidInputError(
            f"o {display_name(provider)} não usa {', '.join(foreign)} (as credenciais dele são: {', '.join(fields)})",
            (foreign[0],),
        )
    if any(k not in given for k in fields):
        raise InvalidInputError(f"informe {' e '.join(fields)} juntos", tuple(fields))
    creds: dict[str, str] = {}
    for name in fields:
        value = str(given[name]).strip()
        if not value:
            raise InvalidInputError(f"{name} é obrigatório", (name,))
        creds[name] = value
    return creds


def _reset_breaker(integracao_id: int) -> None:
    """New address or tokens: a breaker opened for the old ones (refused credentials keep it
    open for an hour) must not hold the new ones back. The breaker also notices the change
    by itself; this makes it immediate and shows it on the status page at once."""
    try:
        reset_breaker(get_state(), integracao_id)
    except Exception:  # the queue's state unreachable: the breaker notices the change itself
        log.debug("disjuntor não reiniciado", exc_info=True)


def rotate_webhook_secret(session: Session, integracao_id: int) -> tuple[CrmIntegracao, str]:
    """A new webhook signing secret (and a new secret URL token, so the old address stops
    too), committed; the secret is answered this one time, to configure the sender."""
    integ = get_integracao(session, integracao_id)
    secret = secrets.token_urlsafe(32)
    integ.webhook_secret = secret
    integ.webhook_token = secrets.token_urlsafe(24)
    session.commit()
    return integ, secret


def get_credentials(integ: CrmIntegracao) -> dict[str, str]:
    """Decrypted credentials, for the provider client only; never log or return them."""
    return {str(k): str(v) for k, v in decrypt_json(integ.credenciais).items()}


def integracao_to_dict(integ: CrmIntegracao, *, include_config: bool = True) -> dict[str, Any]:
    """Public view: credentials masked, the webhook secret never shown."""
    try:
        creds = get_credentials(integ)
        masked = {k: mask_secret(v) for k, v in creds.items()}
    except ValueError:
        masked = {"erro": "credenciais ilegíveis com a CRMSYNC_SECRET_KEY atual"}
    data: dict[str, Any] = {
        "id": integ.id,
        "id_loja": integ.id_loja,
        "provider": integ.provider,
        "ativo": integ.ativo,
        "base_url": integ.base_url,
        "credenciais": masked,
        "webhook_path": f"/api/crm/webhook/{integ.provider}/{integ.webhook_token}",
        "cadastrado_em": integ.cadastrado_em.isoformat(),
        "modificado_em": integ.modificado_em.isoformat(),
    }
    if include_config:
        data["config"] = integ.config
    return data
