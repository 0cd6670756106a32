"""What the console's buttons do: thin calls into the engine and the runtime.

Why a separate module: the decision logic (writing both sides, updating the merge base,
logging who decided) belongs to the engine; the console only translates a form into one
engine call, made as ``console:loja<ID>`` so the log says who decided. Errors come back as
:class:`ActionError` with a message a store user can read; nothing technical is shown.
"""

from __future__ import annotations

import importlib
import logging
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from crmsync.web.queries import get_failed_item

log = logging.getLogger(__name__)


class ActionError(Exception):
    """A button's action could not be done; ``str(exc)`` is shown to the user (Portuguese)."""


def actor_for(loja_id: int) -> str:
    return f"console:loja{loja_id}"


def _engine_class() -> Any:
    try:
        module = importlib.import_module("crmsync.engine")
    except ImportError as exc:
        log.warning("engine import failed: %s", exc)
        raise ActionError("O motor de sincronização não está disponível nesta instalação.") from exc
    engine = getattr(module, "SyncEngine", None)
    if engine is None:
        raise ActionError("O motor de sincronização não está disponível nesta instalação.")
    return engine


def _open_engine(session_factory: sessionmaker[Session], loja_id: int, provider: str) -> Any:
    engine_cls = _engine_class()
    try:
        return engine_cls.for_store(session_factory, loja_id, provider_key=provider)
    except LookupError as exc:
        raise ActionError("A integração desta loja não foi encontrada.") from exc
    except ValueError as exc:
        raise ActionError("A integração está desativada: ative-a antes de sincronizar.") from exc


def _run(session_factory: sessionmaker[Session], loja_id: int, provider: str, call: str,
         *args: Any, **kwargs: Any) -> Any:
    """Open the store's engine, make one call, always close it; user errors become ActionError."""
    engine = _open_engine(session_factory, loja_id, provider)
    try:
        return getattr(engine, call)(*args, **kwargs)
    except LookupError as exc:
        raise ActionError("Registro não encontrado ou já resolvido.") from exc
    except ValueError as exc:
        raise ActionError(f"Escolha inválida: {exc}") from exc
    except ActionError:
        raise
    except Exception as exc:  # provider down, quota, network: say so, log the detail for operators
        log.exception("console action %s failed for loja %s", call, loja_id)
        raise ActionError(
            "Não foi possível concluir agora (o GestãoClick pode estar indisponível). "
            "Nada foi perdido: tente de novo em alguns minutos."
        ) from exc
    finally:
        close = getattr(engine, "close", None)
        if callable(close):
            close()


def resolve_conflict(session_factory: sessionmaker[Session], loja_id: int, provider: str, conflito_id: int,
                     usar: str, campos: dict[str, str] | None) -> dict[str, Any]:
    result = _run(session_factory, loja_id, provider, "resolve_conflict", conflito_id, usar,
                  campos if usar == "merge" else None, actor=actor_for(loja_id))
    return result if isinstance(result, dict) else {}


def resolve_duplicate(session_factory: sessionmaker[Session], loja_id: int, provider: str, duplicata_id: int,
                      action: str) -> dict[str, Any]:
    result = _run(session_factory, loja_id, provider, "resolve_duplicate", duplicata_id, action,
                  actor=actor_for(loja_id))
    return result if isinstance(result, dict) else {}


def sync_now(session_factory: sessionmaker[Session], loja_id: int, provider: str) -> dict[str, Any]:
    """Run both directions for the store now (the button waits for the run to end)."""
    engine_cls = _engine_class()
    options_cls = getattr(importlib.import_module("crmsync.engine"), "RunOptions", None)
    kwargs: dict[str, Any] = {}
    if options_cls is not None:
        kwargs["options"] = options_cls(trigger="manual", actor=actor_for(loja_id))
    try:
        engine = engine_cls.for_store(session_factory, loja_id, provider_key=provider, **kwargs)
    except LookupError as exc:
        raise ActionError("A integração desta loja não foi encontrada.") from exc
    except ValueError as exc:
        raise ActionError("A integração está desativada: ative-a antes de sincronizar.") from exc
    try:
        result = engine.sync()
    except Exception as exc:
        log.exception("console sync failed for loja %s", loja_id)
        raise ActionError(
            "A sincronização não pôde ser concluída agora. Veja o registro para detalhes e tente de novo."
        ) from exc
    finally:
        close = getattr(engine, "close", None)
        if callable(close):
            close()
    as_dict = getattr(result, "as_dict", None)
    return as_dict() if callable(as_dict) else (result if isinstance(result, dict) else {})


def _runtime_function(name: str) -> Any:
    """The runtime's own retry/ignore function, when the runtime provides one."""
    for module_name in ("crmsync.runtime", "crmsync.runtime.failures", "crmsync.runtime.retry"):
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        fn = getattr(module, name, None)
        if callable(fn):
            return fn
    return None


def retry_failed_item(session_factory: sessionmaker[Session], loja_id: int, item_id: int) -> None:
    """[Tentar de novo]: hand the item back to the retry queue, due now."""
    with session_factory() as session:
        if get_failed_item(session, loja_id, item_id) is None:
            raise LookupError(item_id)
    fn = _runtime_function("retry_failed_item")
    if fn is not None:
        fn(session_factory, item_id)
        return
    with session_factory() as session:
        row = get_failed_item(session, loja_id, item_id)
        if row is None:
            raise LookupError(item_id)
        row.status = "pendente"
        row.proxima_tentativa = datetime.now(UTC)
        session.commit()


def ignore_failed_item(session_factory: sessionmaker[Session], loja_id: int, item_id: int) -> None:
    """[Ignorar]: park the item for good; it stays in the table for the record."""
    with session_factory() as session:
        if get_failed_item(session, loja_id, item_id) is None:
            raise LookupError(item_id)
    fn = _runtime_function("ignore_failed_item")
    if fn is not None:
        fn(session_factory, item_id)
        return
    with session_factory() as session:
        row = get_failed_item(session, loja_id, item_id)
        if row is None:
            raise LookupError(item_id)
        row.status = "ignorado"
        row.proxima_tentativa = None
        session.commit()
