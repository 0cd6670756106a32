"""Stores (lojas): creation with a one-time API key, look-up by key, listing, and the key's
life cycle (rotate, revoke) and the store's (disable, enable).

Only the SHA-256 of a store's API key is kept; the key itself is shown once, at creation or
rotation.

The API resolves a key on every request (the ERP calls it on every save), so
:func:`store_for_api_key` keeps what a key opens for ``CRMSYNC_API_KEY_CACHE_SECONDS`` (5 s),
keyed by the key's hash. A rotation, revocation or switching a store off through this process
empties the cache as it commits, so the old key stops at once here; another process (another
``serve --workers`` process, a CLI command) sees the change within those seconds.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from crmsync.crypto import hash_api_key
from crmsync.db.local import Loja
from crmsync.db.session import get_sessionmaker
from crmsync.services.errors import DuplicateError, InvalidInputError, NotFoundError
from crmsync.services.ids import MAX_ID, valid_id
from crmsync.settings import get_settings, new_api_key

API_KEY_PREFIX_LEN = 12
REVOKED_PREFIX = "revogada"


def create_loja(session: Session, nome: str, loja_id: int | None = None) -> tuple[Loja, str]:
    """Create a store and commit; return it with its API key (the only time the key exists
    in clear). `loja_id` lets an existing ERP keep its own store ids."""
    nome = " ".join((nome or "").split())
    if not nome:
        raise InvalidInputError("nome é obrigatório", ("nome",))
    if len(nome) > 200:
        raise InvalidInputError("no máximo 200 caracteres", ("nome",))
    if loja_id is not None:
        if not valid_id(loja_id):
            raise InvalidInputError(f"id deve estar entre 1 e {MAX_ID}", ("id",))
        if session.get(Loja, loja_id) is not None:
            raise DuplicateError(f"já existe uma loja com id {loja_id}")
    key = new_api_key()
    loja = Loja(nome=nome, api_key_hash=hash_api_key(key), api_key_prefix=key[:API_KEY_PREFIX_LEN])
    if loja_id is not None:
        loja.id = loja_id
    session.add(loja)
    session.flush()
    if loja_id is not None:
        _advance_sequence(session)
    session.commit()
    return loja, key


def _advance_sequence(session: Session) -> None:
    """PostgreSQL's serial sequence ignores explicit ids; move it past them so the next
    automatic id does not collide. (SQLite and MariaDB do this by themselves.)"""
    if session.get_bind().dialect.name == "postgresql":
        table = Loja.__tablename__
        session.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))"))


def rotate_api_key(session: Session, loja_id: int) -> tuple[Loja, str]:
    """Give the store a new API key and commit; the old key stops working at once (keys are
    looked up by their hash, and console sessions carry a fingerprint of it, so they end too).
    The new key is answered this one time."""
    loja = get_loja(session, loja_id)
    key = new_api_key()
    loja.api_key_hash = hash_api_key(key)
    loja.api_key_prefix = key[:API_KEY_PREFIX_LEN]
    session.commit()
    forget_api_keys()
    return loja, key


def revoke_api_key(session: Session, loja_id: int) -> Loja:
    """Take the store's key away without a new one (a leaked key, a store leaving): no key
    opens it until `rotate_api_key`. The stored hash becomes the hash of a random key that
    was never shown to anyone."""
    loja = get_loja(session, loja_id)
    loja.api_key_hash = hash_api_key(new_api_key())
    loja.api_key_prefix = REVOKED_PREFIX
    session.commit()
    forget_api_keys()
    return loja


def set_loja_active(session: Session, loja_id: int, ativo: bool) -> Loja:
    """Switch a store off (its key opens nothing, its jobs are skipped) or back on; nothing
    is deleted."""
    loja = get_loja(session, loja_id)
    loja.ativo = ativo
    session.commit()
    forget_api_keys()
    return loja


def list_lojas(session: Session) -> list[Loja]:
    return list(session.scalars(select(Loja).order_by(Loja.id)))


def get_loja(session: Session, loja_id: int) -> Loja:
    loja = session.get(Loja, loja_id) if valid_id(loja_id) else None
    if loja is None:
        raise NotFoundError(f"loja {loja_id} não encontrada")
    return loja


def loja_by_api_key(session: Session, key: str) -> Loja | None:
    """The active store owning `key`, or None. Looked up by the key's hash, so the clear key
    is never compared or stored."""
    if not key:
        return None
    return session.scalar(select(Loja).where(Loja.api_key_hash == hash_api_key(key), Loja.ativo.is_(True)))


@dataclass(frozen=True, slots=True)
class StoreKey:
    """What a store key opens, as a request needs it: immutable, so one cached copy is shared
    by every request and thread, and no ORM state travels between sessions."""

    id: int
    nome: str
    api_key_prefix: str


class _KeyCache:
    """Key hash -> (expiry, store). `generation` moves on every `clear`: a look-up that read the
    database before a clear does not store its (maybe stale) answer after it."""

    MAX_ENTRIES = 10_000  # only valid keys are kept (one per store); a bound all the same

    def __init__(self) -> None:
        self._entries: dict[str, tuple[float, StoreKey]] = {}
        self._lock = threading.Lock()
        self.generation = 0

    def get(self, key_hash: str) -> StoreKey | None:
        found = self._entries.get(key_hash)
        if found is None or found[0] < time.monotonic():
            return None
        return found[1]

    def put(self, key_hash: str, store: StoreKey, generation: int, ttl: float) -> None:
        with self._lock:
            if generation != self.generation:
                return
            if len(self._entries) >= self.MAX_ENTRIES:
                self._entries.clear()
            self._entries[key_hash] = (time.monotonic() + ttl, store)

    def clear(self) -> None:
        with self._lock:
            self.generation += 1
            self._entries.clear()


_keys = _KeyCache()


def forget_api_keys() -> None:
    """Drop every cached key look-up (after a key or a store changed, committed)."""
    _keys.clear()


def cached_store_for_api_key(key: str) -> StoreKey | None:
    """The store `key` opens if this process looked it up less than the cache's seconds ago
    (no database work: safe on the event loop); None means "look it up"."""
    return _keys.get(hash_api_key(key)) if key else None


def store_for_api_key(key: str) -> StoreKey | None:
    """The active store owning `key` (None if none), from the cache or, past it, from the
    database in a session of its own, closed before this returns."""
    if not key:
        return None
    key_hash = hash_api_key(key)
    cached = _keys.get(key_hash)
    if cached is not None:
        return cached
    generation = _keys.generation
    with get_sessionmaker()() as session:
        row = session.execute(
            select(Loja.id, Loja.nome, Loja.api_key_prefix).where(Loja.api_key_hash == key_hash, Loja.ativo.is_(True))
        ).first()
    if row is None:
        return None  # unknown keys are not kept: each costs a look-up, as before
    store = StoreKey(id=row.id, nome=row.nome, api_key_prefix=row.api_key_prefix)
    ttl = get_settings().api_key_cache_seconds
    if ttl > 0:
        _keys.put(key_hash, store, generation, ttl)
    return store


def loja_to_dict(loja: Loja) -> dict[str, Any]:
    cadastrado: datetime = loja.cadastrado_em
    return {
        "id": loja.id,
        "nome": loja.nome,
        "ativo": loja.ativo,
        "api_key_prefix": loja.api_key_prefix,
        "cadastrado_em": cadastrado.isoformat(),
    }
