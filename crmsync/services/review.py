"""Review operations: resolving a pending conflict or a duplicate suggestion.

Why: a conflict the engine refused to settle by itself (the spec's 7.3, "João Silva Santos"
against "J. Silva") waits here until a person decides, and the decision must reach both
sides. `resolve_conflict_now` / `resolve_duplicate_now` are the one function each route of
`crmsync.api.review` calls (and the CLI too), so validation and store scoping happen once, before the engine
writes anything: a conflict of another store is 404 exactly like a missing one, a conflict
already decided is 409, a bad choice or an unknown field is 422.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy.orm import Session, sessionmaker

from crmsync.db.session import get_sessionmaker
from crmsync.db.sync import CrmConflito, CrmDuplicata
from crmsync.engine import SyncEngine
from crmsync.services.errors import InvalidInputError, NotFoundError
from crmsync.services.sync import IntegrationUnavailableError, open_engine

USAR_CHOICES = ("local", "externo", "merge")
SIDE_ALIASES = {"local": "local", "externo": "externo", "external": "externo"}
ACAO_CHOICES = ("vincular", "descartar")


# ------------------------------------------------------------------------------ operations

_Row = TypeVar("_Row", CrmConflito, CrmDuplicata)
_Choice = TypeVar("_Choice")


def _decide(
    model: type[_Row],
    item_id: int,
    missing: str,
    handled: Callable[[_Row], str],
    choose: Callable[[_Row], _Choice],
    apply: Callable[[SyncEngine, _Choice], dict[str, Any]],
    *,
    actor: str | None,
    loja_id: int | None,
    session_factory: sessionmaker[Session] | None,
) -> dict[str, Any]:
    """A person's decision on a review item, in the order that keeps a refusal harmless: the
    item still waiting for a person (another store's is "not found": a key learns nothing
    of other stores; one already decided is a refusal saying by whom/how), the decision
    checked against it (`choose`), and only then the engine of its own store and
    integration, which applies it to both sides (`apply`)."""
    factory = session_factory or get_sessionmaker()
    with factory() as session:
        row = session.get(model, item_id)
        if row is None or (loja_id is not None and row.id_loja != loja_id):
            raise NotFoundError(missing)
        if row.status != "pendente":
            raise IntegrationUnavailableError(handled(row))
        choice = choose(row)
        owner, integ_id = row.id_loja, row.id_integracao
    with open_engine(owner, trigger="manual", actor=actor, session_factory=factory, integracao_id=integ_id) as engine:
        return apply(engine, choice)


def resolve_conflict_now(
    conflito_id: int,
    usar: str,
    campos: dict[str, str] | None = None,
    *,
    actor: str | None = None,
    loja_id: int | None = None,
    session_factory: sessionmaker[Session] | None = None,
) -> dict[str, Any]:
    """Apply a person's decision on a conflict to both sides (engine.resolve_conflict).

    `usar`: local | externo | merge; with merge, `campos` maps each field to local|externo
    (`external` accepted). With `loja_id`, a conflict of another store is "not found".
    """
    usar_norm = SIDE_ALIASES.get((usar or "").strip().lower(), (usar or "").strip().lower())
    if usar_norm not in USAR_CHOICES:
        raise InvalidInputError(f"valor inválido '{usar}' (use local, externo ou merge)", ("usar",))

    def fields_chosen(row: CrmConflito) -> dict[str, str]:
        known = set((row.campos or {}).keys())
        chosen: dict[str, str] = {}
        for name, side in (campos or {}).items():
            if name not in known:
                raise InvalidInputError(
                    f"campo '{name}' não está em conflito (campos em conflito: {', '.join(sorted(known)) or '-'})",
                    ("campos", name),
                )
            side_norm = SIDE_ALIASES.get(str(side).strip().lower())
            if side_norm is None:
                raise InvalidInputError(f"valor inválido '{side}' (use local ou externo)", ("campos", name))
            chosen[name] = side_norm
        if chosen and usar_norm != "merge":
            raise InvalidInputError("'campos' só vale com usar=merge", ("campos",))
        return chosen

    return _decide(
        CrmConflito,
        conflito_id,
        f"conflito {conflito_id} não encontrado",
        lambda done: (
            f"conflito {conflito_id} já foi resolvido" + (f" por {done.resolvido_por}" if done.resolvido_por else "")
        ),
        fields_chosen,
        lambda engine, chosen: engine.resolve_conflict(conflito_id, usar_norm, chosen or None, actor=actor),
        actor=actor,
        loja_id=loja_id,
        session_factory=session_factory,
    )


def resolve_duplicate_now(
    duplicata_id: int,
    acao: str,
    *,
    actor: str | None = None,
    loja_id: int | None = None,
    session_factory: sessionmaker[Session] | None = None,
) -> dict[str, Any]:
    """Link (and merge) or dismiss a fuzzy duplicate suggestion (engine.resolve_duplicate)."""
    acao_norm = {"link": "vincular", "dismiss": "descartar"}.get(
        (acao or "").strip().lower(), (acao or "").strip().lower()
    )
    if acao_norm not in ACAO_CHOICES:
        raise InvalidInputError(f"valor inválido '{acao}' (use vincular ou descartar)", ("acao",))
    return _decide(
        CrmDuplicata,
        duplicata_id,
        f"duplicata {duplicata_id} não encontrada",
        lambda done: f"duplicata {duplicata_id} já foi tratada ({done.status})",
        lambda _row: acao_norm,
        lambda engine, acao_chosen: engine.resolve_duplicate(duplicata_id, acao_chosen, actor=actor),
        actor=actor,
        loja_id=loja_id,
        session_factory=session_factory,
    )
