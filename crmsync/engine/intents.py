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
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, select
from sqlalchemy.dialects.mysql import insert as mysql_insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from crmsync.db.sync import CrmCriacaoPendente
from crmsync.merge import is_empty, values_equal

__all__ = ["CreateIntents", "describe_refused", "intent_base", "refused_fields"]

_INTENT_KEY = ("id_loja", "provider", "entity_type", "entity_id")  # uq_crm_criacoes_pendentes_local


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
    """The pending creates of one integration: stored before the CRM call, taken when linked.

    Its statements are built once (a create is a job's hot path: building a statement and
    its cache key at each call cost more CPU than running it)."""

    def __init__(self, *, id_loja: int, id_integracao: int, provider: str) -> None:
        self.id_loja = id_loja
        self.id_integracao = id_integracao
        self.provider = provider

    def _key(self, entity_type: str, entity_id: int) -> dict[str, Any]:
        return {"i_loja": self.id_loja, "i_provider": self.provider, "i_entity": entity_type, "i_id": entity_id}

    def get(self, s: Session, entity_type: str, entity_id: int) -> dict[str, Any] | None:
        sent = s.scalars(_GET, self._key(entity_type, entity_id)).first()
        return dict(sent) if sent is not None else None

    def record(self, s: Session, entity_type: str, entity_id: int, sent: Mapping[str, Any]) -> None:
        """Store (or replace) what is about to be sent; the caller commits before the call.
        One upsert (PostgreSQL, SQLite, MariaDB/MySQL, the databases crmsync runs on): a
        create is a job's hot path, and the look-up, savepoint, insert and release it
        replaced were four round trips; a concurrent record of the same row is replaced."""
        values = {
            "id_loja": self.id_loja,
            "id_integracao": self.id_integracao,
            "provider": self.provider,
            "entity_type": entity_type,
            "entity_id": entity_id,
            "enviado": dict(sent),
            "enviado_em": datetime.now(UTC),
        }
        s.execute(_upsert(s.get_bind(CrmCriacaoPendente).dialect.name), values)

    def drop(self, s: Session, entity_type: str, entity_id: int) -> None:
        """Remove the row's pending create, if any (one DELETE: its values are not needed)."""
        s.execute(_DROP, self._key(entity_type, entity_id))

    def take(self, s: Session, entity_type: str, entity_id: int) -> dict[str, Any] | None:
        """The values sent (None when no create is pending), removed: the row is linked now."""
        sent = self.get(s, entity_type, entity_id)
        if sent is not None:
            self.drop(s, entity_type, entity_id)
        return sent


# Core on the table (no ORM statement: nothing of it is loaded in a session, get reads the
# column alone)
_TABLE = cast(Table, CrmCriacaoPendente.__table__)
_BY_KEY = (
    _TABLE.c.id_loja == bindparam("i_loja"),
    _TABLE.c.provider == bindparam("i_provider"),
    _TABLE.c.entity_type == bindparam("i_entity"),
    _TABLE.c.entity_id == bindparam("i_id"),
)
_GET = select(_TABLE.c.enviado).where(*_BY_KEY)
_DROP = delete(_TABLE).where(*_BY_KEY)
_UPSERTS: dict[str, Any] = {}


def _upsert(dialect: str) -> Any:
    """The dialect's INSERT ... ON CONFLICT/DUPLICATE KEY UPDATE of an intent (its values
    given at execution), built once."""
    found = _UPSERTS.get(dialect)
    if found is not None:
        return found
    table = _TABLE
    stmt: Any
    if dialect in ("postgresql", "sqlite"):
        ins: Any = pg_insert(table) if dialect == "postgresql" else sqlite_insert(table)
        stmt = ins.on_conflict_do_update(
            index_elements=_INTENT_KEY, set_={"enviado": ins.excluded.enviado, "enviado_em": ins.excluded.enviado_em}
        )
    elif dialect in ("mysql", "mariadb"):
        mins = mysql_insert(table)
        stmt = mins.on_duplicate_key_update(enviado=mins.inserted.enviado, enviado_em=mins.inserted.enviado_em)
    else:
        raise ValueError(f"banco de dados não suportado: {dialect}")
    _UPSERTS[dialect] = stmt
    return stmt
