"""What the console's buttons do: thin calls into the engine and the runtime, as services.

Why a separate module: the decision logic (writing both sides, updating the merge base,
logging who decided, queueing a retry) belongs to the engine and the runtime; the console
only translates a form into one call, made as ``console:loja<ID>`` so the log says who
decided. Errors come back as :class:`ActionError` with a message a store user can read.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from crmsync.engine import RunOptions, SyncEngine
from crmsync.providers.registry import display_name
from crmsync.services.errors import ServiceError
from crmsync.services.failures import ignore_item, retry_item
from crmsync.services.sync import IntegrationUnavailableError, queue_run, wait_job

log = logging.getLogger(__name__)


def unavailable(provider: str) -> str:
    return (
        f"Não foi possível concluir agora (o {display_name(provider)} pode estar indisponível). "
        "Nada foi perdido: tente de novo em alguns minutos."
    )


class ActionError(Exception):
    """A button's action could not be done; ``str(exc)`` is shown to the user (Portuguese)."""


def actor_for(loja_id: int) -> str:
    return f"console:loja{loja_id}"


def _open(session_factory: sessionmaker[Session], loja_id: int, provider: str) -> SyncEngine:
    try:
        return SyncEngine.for_store(
            session_factory,
            loja_id,
            provider_key=provider,
            options=RunOptions(trigger="manual", actor=actor_for(loja_id)),
        )
    except LookupError as exc:
        raise ActionError("A integração desta loja não foi encontrada.") from exc
    except ValueError as exc:
        raise ActionError("A integração está desativada: ative-a antes de sincronizar.") from exc


def _run(session_factory: sessionmaker[Session], loja_id: int, provider: str, call: Callable[[SyncEngine], Any]) -> Any:
    """Open the store's engine, make one call, always close it; user errors become ActionError."""
    engine = _open(session_factory, loja_id, provider)
    try:
        return call(engine)
    except LookupError as exc:
        raise ActionError("Registro não encontrado ou já resolvido.") from exc
    except ValueError as exc:  # the engine's messages for these are Portuguese and name no secret
        raise ActionError(f"Não foi possível aplicar: {exc}") from exc
    except Exception as exc:  # provider down, quota, network: say so, log the detail for operators
        log.exception("console action failed for loja %s", loja_id)
        raise ActionError(unavailable(provider)) from exc
    finally:
        engine.close()


def resolve_conflict(
    session_factory: sessionmaker[Session],
    loja_id: int,
    provider: str,
    conflito_id: int,
    usar: str,
    campos: dict[str, str] | None,
) -> dict[str, Any]:
    """Apply the decision to both sides (the engine writes, updates the base and logs)."""
    result = _run(
        session_factory,
        loja_id,
        provider,
        lambda e: e.resolve_conflict(conflito_id, usar, campos if usar == "merge" else None, actor=actor_for(loja_id)),
    )
    return result if isinstance(result, dict) else {}


def resolve_duplicate(
    session_factory: sessionmaker[Session], loja_id: int, provider: str, duplicata_id: int, action: str
) -> dict[str, Any]:
    result = _run(
        session_factory,
        loja_id,
        provider,
        lambda e: e.resolve_duplicate(duplicata_id, action, actor=actor_for(loja_id)),
    )
    return result if isinstance(result, dict) else {}


SYNC_NOW_WAIT_SECONDS = 20.0
QUEUED = (
    "Sincronização na fila: ela roda assim que for a vez desta loja. O resultado aparece no registro de sincronização."
)


def sync_now(
    session_factory: sessionmaker[Session],
    loja_id: int,
    integracao_id: int,
    provider: str,
    wait: float = SYNC_NOW_WAIT_SECONDS,
) -> dict[str, Any]:
    """Queue both directions for the store as a job (the same one-turn-per-integration rule as
    every job), and wait a little for it: the run's summary when it ended in time, else
    `{"na_fila": message}` (the job goes on)."""
    try:
        job = queue_run(
            loja_id, "sync", actor=actor_for(loja_id), integracao_id=integracao_id, session_factory=session_factory
        )
    except IntegrationUnavailableError as exc:
        if "desativada" in str(exc):
            raise ActionError("A integração está desativada: ative-a antes de sincronizar.") from exc
        raise ActionError("A integração desta loja não foi encontrada.") from exc
    except ServiceError as exc:
        raise ActionError(unavailable(provider)) from exc
    view = wait_job(loja_id, str(job["id"]), wait)
    if view.get("status") == "erro":
        raise ActionError(unavailable(provider))
    if view.get("status") != "concluido":
        return {"na_fila": QUEUED}
    result = view.get("resultado")
    return result if isinstance(result, dict) else {}


def retry_failed_item(session_factory: sessionmaker[Session], loja_id: int, item_id: int) -> bool:
    """[Tentar de novo]: the runtime makes the item due now and queues it; True when queued.

    LookupError for a missing item or one of another store (the page answers 404)."""
    with session_factory() as session:
        try:
            _, queued = retry_item(session, item_id, loja_id)
        except LookupError:
            raise
        except ValueError as exc:  # resolved meanwhile
            raise ActionError("Este item já foi resolvido.") from exc
        return bool(queued)


def ignore_failed_item(session_factory: sessionmaker[Session], loja_id: int, item_id: int) -> None:
    """[Ignorar]: the runtime stops retrying it; a later change of the record re-enables it."""
    with session_factory() as session:
        ignore_item(session, item_id, loja_id)
