"""A create carries its intent (`crm_criacoes_pendentes`), and every write is checked.

Two questions about what the CRM holds after crmsync wrote to it, answered from what was
sent:

* **Is a record found by its unique keys ours?** A create whose answer was lost leaves a
  record crmsync made but does not know. Before each create the values sent are stored
  durably (:meth:`CreateIntents.record`); a record later found by key whose fields match
  them is ours, and its link takes the sent values as its base (:func:`intent_base`): a
  field the store changed since is then a one-sided change that is pushed, and only a field
  changed on both sides is a conflict. Without the intent such a link has no base, and the
  store's edit looked like a conflict nobody made.
* **Did the CRM store what was sent?** (:func:`refused_fields`) A CRM may answer a write
  with success and keep an old value (SuiteCRM 7.14 ignores ``email1`` on an update). The
  answer (the provider returns the stored record) is compared field by field with what was
  sent, both in canonical form; a field it did not take keeps its old base, so the store's
  value stays "changed locally" and is never overwritten later by the CRM's old one.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crmsync.db.sync import CrmCriacaoPendente
from crmsync.merge import is_empty, values_equal

__all__ = ["CreateIntents", "describe_refused", "intent_base", "refused_fields"]


def refused_fields(sent: Mapping[str, Any], stored: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    """{field: (sent, stored)} for each field sent that the CRM's stored record holds with
    another value. A field the record does not carry at all cannot be checked (the provider
    does not map it back) and counts as taken."""
    out: dict[str, tuple[Any, Any]] = {}
    for name, value in sent.items():
        if name in stored and not values_equal(value, stored[name]):
            out[name] = (value, stored[name])
    return out


def describe_refused(crm: str, refused: Mapping[str, tuple[Any, Any]]) -> str:
    """``o SuiteCRM não gravou email (continua antigo@x.com)``: what a person reads."""
    parts = []
    for name, (_sent, stored) in sorted(refused.items()):
        shown = "vazio" if stored in (None, "", [], {}) else str(stored)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        parts.append(f"{name} (continua {shown})")
    return f"o {crm} não gravou " + ", ".join(parts)


def intent_base(sent: Mapping[str, Any] | None, found: Mapping[str, Any]) -> dict[str, Any] | None:
    """The base a link to ``found`` takes when it is the record a lost create made: the
    values sent (and the record's own for fields not sent). A field the record holds with
    another value then counts as changed in the CRM since (by its users, or its own
    normalisation), and a field the store changed since as changed locally.

    Ours when a create is pending for the row (the look-up by key just before it found
    nothing, so a record with that key appeared after it) and most of the filled fields
    sent are there as sent. None otherwise: the link is made with no base, and the merge
    treats both sides as new."""
    if not sent:
        return None
    comparable = [name for name, value in sent.items() if name in found and not is_empty(value)]
    if not comparable:
        return None
    same = sum(1 for name in comparable if values_equal(sent[name], found[name]))
    if 2 * same < len(comparable):
        return None
    return {**found, **sent}


class CreateIntents:
    """The pending creates of one integration: stored before the CRM call, taken when linked."""

    def __init__(self, *, id_loja: int, id_integracao: int, provider: str) -> None:
        self.id_loja = id_loja
        self.id_integracao = id_integracao
        self.provider = provider

    def _where(self, entity_type: str, entity_id: int) -> Any:
        return (
            CrmCriacaoPendente.id_loja == self.id_loja,
            CrmCriacaoPendente.provider == self.provider,
            CrmCriacaoPendente.entity_type == entity_type,
            CrmCriacaoPendente.entity_id == entity_id,
        )

    def get(self, s: Session, entity_type: str, entity_id: int) -> dict[str, Any] | None:
        row = s.scalars(select(CrmCriacaoPendente).where(*self._where(entity_type, entity_id))).first()
        return dict(row.enviado) if row is not None else None

    def record(self, s: Session, entity_type: str, entity_id: int, sent: Mapping[str, Any]) -> None:
        """Store (or replace) what is about to be sent; the caller commits before the call."""
        row = s.scalars(select(CrmCriacaoPendente).where(*self._where(entity_type, entity_id))).first()
        if row is not None:
            row.enviado = dict(sent)
            row.enviado_em = datetime.now(UTC)
            s.flush()
            return
        try:
            with s.begin_nested():
                s.add(
                    CrmCriacaoPendente(
                        id_loja=self.id_loja,
                        id_integracao=self.id_integracao,
                        provider=self.provider,
                        entity_type=entity_type,
                        entity_id=entity_id,
                        enviado=dict(sent),
                        enviado_em=datetime.now(UTC),
                    )
                )
                s.flush()
        except IntegrityError:  # another run recorded one meanwhile: ours replaces it
            row = s.scalars(select(CrmCriacaoPendente).where(*self._where(entity_type, entity_id))).one()
            row.enviado = dict(sent)
            row.enviado_em = datetime.now(UTC)
            s.flush()

    def take(self, s: Session, entity_type: str, entity_id: int) -> dict[str, Any] | None:
        """The values sent (None when no create is pending), removed: the row is linked now."""
        sent = self.get(s, entity_type, entity_id)
        if sent is not None:
            s.execute(delete(CrmCriacaoPendente).where(*self._where(entity_type, entity_id)))
        return sent
