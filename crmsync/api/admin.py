"""Administration over HTTP, the same operations as the CLI: stores and integrations.

Every route takes `Authorization: Bearer <CRMSYNC_ADMIN_TOKEN>`. A store's API key is
answered once, when the store is created. Credentials are never answered (only masked);
an invalid integration config is a 422 naming the key, and the old config stays.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from crmsync.api.deps import AdminDep, SessionDep
from crmsync.api.limits import ReleasingRoute
from crmsync.services import integracoes as integ_svc
from crmsync.services import lojas as lojas_svc
from crmsync.services.ids import MAX_ID

router = APIRouter(route_class=ReleasingRoute, prefix="/api/admin", tags=["administração"])


class LojaCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    nome: str = Field(min_length=1, max_length=200)
    id: int | None = Field(
        default=None,
        ge=1,
        le=MAX_ID,
        description="Id a usar (o do ERP existente); omitido = automático.",
    )


class IntegracaoCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id_loja: int
    provider: str = Field(default="gestao_click", description="`gestao_click` ou `suitecrm`.")
    base_url: str = Field(max_length=300)
    # Each provider asks for its own: GestãoClick the token pair, SuiteCRM an OAuth2 client.
    access_token: str | None = Field(default=None, min_length=1, max_length=500)
    secret_access_token: str | None = Field(default=None, min_length=1, max_length=500)
    client_id: str | None = Field(default=None, min_length=1, max_length=500)
    client_secret: str | None = Field(default=None, min_length=1, max_length=500)
    config: dict[str, Any] | None = Field(default=None, description="Configuração (mesmo formato do YAML).")


@router.post("/lojas", status_code=201)
def create_loja(body: LojaCreate, _admin: AdminDep, session: SessionDep) -> dict[str, Any]:
    """Create a store; the answer carries its `api_key`, shown this one time only."""
    loja, key = lojas_svc.create_loja(session, body.nome, body.id)
    return {**lojas_svc.loja_to_dict(loja), "api_key": key}


@router.get("/lojas")
def list_lojas(_admin: AdminDep, session: SessionDep) -> list[dict[str, Any]]:
    """Every store (without keys: only their first characters, to recognise them)."""
    return [lojas_svc.loja_to_dict(loja) for loja in lojas_svc.list_lojas(session)]


@router.get("/lojas/{loja_id}")
def get_loja(loja_id: int, _admin: AdminDep, session: SessionDep) -> dict[str, Any]:
    return lojas_svc.loja_to_dict(lojas_svc.get_loja(session, loja_id))


@router.post("/integracoes", status_code=201)
def create_integracao(body: IntegracaoCreate, _admin: AdminDep, session: SessionDep) -> dict[str, Any]:
    """Connect a store to a provider. Credentials are stored encrypted and answered masked."""
    integ = integ_svc.create_integracao(
        session,
        loja_id=body.id_loja,
        provider=body.provider,
        base_url=body.base_url,
        access_token=body.access_token,
        secret_access_token=body.secret_access_token,
        credentials={"client_id": body.client_id, "client_secret": body.client_secret},
        config=body.config,
    )
    return integ_svc.integracao_to_dict(integ)


@router.get("/integracoes")
def list_integracoes(_admin: AdminDep, session: SessionDep, id_loja: int | None = None) -> list[dict[str, Any]]:
    """Integrations, optionally of one store (`?id_loja=`)."""
    return [integ_svc.integracao_to_dict(i, include_config=False) for i in integ_svc.list_integracoes(session, id_loja)]


@router.get("/integracoes/{integracao_id}")
def get_integracao(integracao_id: int, _admin: AdminDep, session: SessionDep) -> dict[str, Any]:
    return integ_svc.integracao_to_dict(integ_svc.get_integracao(session, integracao_id))


@router.get("/integracoes/{integracao_id}/config")
def get_config(integracao_id: int, _admin: AdminDep, session: SessionDep) -> dict[str, Any]:
    """The stored config, with every default filled in."""
    return dict(integ_svc.get_integracao(session, integracao_id).config or {})


@router.put("/integracoes/{integracao_id}/config")
def put_config(integracao_id: int, body: dict[str, Any], _admin: AdminDep, session: SessionDep) -> dict[str, Any]:
    """Replace the config (the spec's names are accepted). 422 naming the key if invalid;
    the old config is then kept."""
    return dict(integ_svc.set_config(session, integracao_id, body).config or {})


@router.post("/integracoes/{integracao_id}/enable")
def enable(integracao_id: int, _admin: AdminDep, session: SessionDep) -> dict[str, Any]:
    return integ_svc.integracao_to_dict(integ_svc.set_active(session, integracao_id, True), include_config=False)


@router.post("/integracoes/{integracao_id}/disable")
def disable(integracao_id: int, _admin: AdminDep, session: SessionDep) -> dict[str, Any]:
    """Stop syncing this integration (nothing is deleted; `enable` resumes it)."""
    return integ_svc.integracao_to_dict(integ_svc.set_active(session, integracao_id, False), include_config=False)


# ------------------------------------------------------------------------------ life cycle


@router.post("/lojas/{loja_id}/rotate-key")
def rotate_key(loja_id: int, _admin: AdminDep, session: SessionDep) -> dict[str, Any]:
    """A new API key for the store (answered this one time); the old one stops at once, and
    console sessions opened with it end."""
    loja, key = lojas_svc.rotate_api_key(session, loja_id)
    return {**lojas_svc.loja_to_dict(loja), "api_key": key}


@router.post("/lojas/{loja_id}/revoke-key")
def revoke_key(loja_id: int, _admin: AdminDep, session: SessionDep) -> dict[str, Any]:
    """Take the store's key away (no new one): nothing opens it until `rotate-key`."""
    return lojas_svc.loja_to_dict(lojas_svc.revoke_api_key(session, loja_id))


@router.post("/lojas/{loja_id}/disable")
def disable_loja(loja_id: int, _admin: AdminDep, session: SessionDep) -> dict[str, Any]:
    """Switch the store off: its key opens nothing and its jobs are skipped (nothing deleted)."""
    return lojas_svc.loja_to_dict(lojas_svc.set_loja_active(session, loja_id, False))


@router.post("/lojas/{loja_id}/enable")
def enable_loja(loja_id: int, _admin: AdminDep, session: SessionDep) -> dict[str, Any]:
    return lojas_svc.loja_to_dict(lojas_svc.set_loja_active(session, loja_id, True))


class ConexaoUpdate(BaseModel):
    """Body of `PATCH /api/admin/integracoes/{id}`: what to change (the provider's credentials
    together: GestãoClick's token pair or SuiteCRM's client_id/client_secret)."""

    model_config = ConfigDict(extra="forbid")

    base_url: str | None = Field(default=None, max_length=300)
    access_token: str | None = Field(default=None, min_length=1, max_length=500)
    secret_access_token: str | None = Field(default=None, min_length=1, max_length=500)
    client_id: str | None = Field(default=None, min_length=1, max_length=500)
    client_secret: str | None = Field(default=None, min_length=1, max_length=500)


@router.patch("/integracoes/{integracao_id}")
def update_integracao(integracao_id: int, body: ConexaoUpdate, _admin: AdminDep, session: SessionDep) -> dict[str, Any]:
    """Change the base URL and/or the credentials (answered masked). Invalid values are a
    422 naming the field, and nothing changes."""
    integ = integ_svc.update_connection(
        session,
        integracao_id,
        base_url=body.base_url,
        access_token=body.access_token,
        secret_access_token=body.secret_access_token,
        credentials={"client_id": body.client_id, "client_secret": body.client_secret},
    )
    return integ_svc.integracao_to_dict(integ, include_config=False)


@router.post("/integracoes/{integracao_id}/webhook-secret")
def rotate_webhook_secret(integracao_id: int, _admin: AdminDep, session: SessionDep) -> dict[str, Any]:
    """A new webhook secret and URL (the secret answered this one time, to configure the
    sender); deliveries signed with the old one, or sent to the old URL, are refused."""
    integ, secret = integ_svc.rotate_webhook_secret(session, integracao_id)
    return {**integ_svc.integracao_to_dict(integ, include_config=False), "webhook_secret": secret}
