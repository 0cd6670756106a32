"""The store-key cache (`crmsync.services.lojas.store_for_api_key`): a key looked up once is
served from memory for `CRMSYNC_API_KEY_CACHE_SECONDS`, and a rotation, revocation or a store
switched off through this process ends the old key at once, cache or not."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from crmsync.db.local import Loja
from crmsync.db.session import session_scope
from crmsync.services import lojas as lojas_svc
from crmsync.settings import reset_settings_cache

from .helpers import ADMIN, Store

PAGE = "/api/clientes?limit=1"


def _revoke_behind_the_service(loja_id: int) -> None:
    """What another process's revocation looks like to this one: the row changes, and this
    process's cache is not told."""
    with session_scope() as session:
        session.execute(update(Loja).where(Loja.id == loja_id).values(api_key_hash="0" * 64))


def test_a_key_looked_up_once_is_served_from_the_cache(client: TestClient, store: Store) -> None:
    assert client.get(PAGE, headers=store.headers).status_code == 200
    _revoke_behind_the_service(store.id)
    # within the cache's seconds the key still opens the store: no database look-up was made
    assert client.get(PAGE, headers=store.headers).status_code == 200


def test_without_the_cache_every_request_looks_the_key_up(
    client: TestClient, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRMSYNC_API_KEY_CACHE_SECONDS", "0")
    reset_settings_cache()
    assert client.get(PAGE, headers=store.headers).status_code == 200
    _revoke_behind_the_service(store.id)
    assert client.get(PAGE, headers=store.headers).status_code == 401


def test_revoking_a_cached_key_ends_it_at_once(client: TestClient, store: Store) -> None:
    assert client.get(PAGE, headers=store.headers).status_code == 200  # cached
    assert client.post(f"/api/admin/lojas/{store.id}/revoke-key", headers=ADMIN).status_code == 200
    assert client.get(PAGE, headers=store.headers).status_code == 401


def test_rotating_a_cached_key_ends_the_old_one_and_opens_the_new(client: TestClient, store: Store) -> None:
    assert client.get(PAGE, headers=store.headers).status_code == 200  # cached
    rotated = client.post(f"/api/admin/lojas/{store.id}/rotate-key", headers=ADMIN)
    assert rotated.status_code == 200, rotated.text
    new_key = rotated.json()["api_key"]
    assert client.get(PAGE, headers=store.headers).status_code == 401
    assert client.get(PAGE, headers={"Authorization": f"Bearer {new_key}"}).status_code == 200


def test_switching_a_store_off_ends_its_cached_key_at_once(client: TestClient, store: Store) -> None:
    assert client.get(PAGE, headers=store.headers).status_code == 200  # cached
    with session_scope() as session:  # as the CLI does (`crmsync loja disable`)
        lojas_svc.set_loja_active(session, store.id, False)
    assert client.get(PAGE, headers=store.headers).status_code == 401
    with session_scope() as session:
        lojas_svc.set_loja_active(session, store.id, True)
    assert client.get(PAGE, headers=store.headers).status_code == 200


def test_a_look_up_that_read_before_a_revocation_is_not_kept(store: Store) -> None:
    """The race the cache's generation closes: a request reads the key as valid, the key is
    revoked and the cache emptied, then the request stores what it read. It must not be
    kept, or the revoked key would open the store for the cache's seconds."""
    read_before = lojas_svc._keys.generation
    with session_scope() as session:
        lojas_svc.revoke_api_key(session, store.id)
    stale = lojas_svc.StoreKey(id=store.id, nome="Loja Cache", api_key_prefix=store.key[:12])
    lojas_svc._keys.put(lojas_svc.hash_api_key(store.key), stale, read_before, ttl=60)
    assert lojas_svc.cached_store_for_api_key(store.key) is None
    assert lojas_svc.store_for_api_key(store.key) is None
