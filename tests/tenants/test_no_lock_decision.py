"""A conflict decision calls the CRM with no transaction open: with store A's CRM hung while
a person resolves one of A's conflicts, store B's writes go through (SQLite: one write lock
for the whole file; PostgreSQL: the same test)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from crmsync.config import parse_config
from crmsync.db.session import get_sessionmaker, session_scope
from crmsync.db.sync import CrmConflito
from crmsync.engine import RunOptions, SyncEngine
from crmsync.engine.links import Binder
from crmsync.providers.gestaoclick import GestaoClickProvider
from crmsync.services.integracoes import create_integracao
from crmsync.services.local_data import create_record
from crmsync.services.lojas import create_loja

from .conftest import LiveApp, use_database, valid_cpf
from .test_no_lock_across_crm import HungServer, hung  # noqa: F401  (the fixture)


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_hung_crm_during_a_conflict_decision_does_not_block_another_store(
    kind: str,
    fresh_database: Callable[[str], str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    live_app: Callable[[], LiveApp],
    hung: HungServer,  # noqa: F811
) -> None:
    use_database(fresh_database(kind), tmp_path, monkeypatch)
    app = live_app()
    base_url = f"http://127.0.0.1:{hung.port}"
    with session_scope() as s:
        loja_a, _key_a = create_loja(s, "Loja A")
        _loja_b, key_b = create_loja(s, "Loja B")
        integ = create_integracao(
            s, loja_id=loja_a.id, provider="gestao_click", base_url=base_url, access_token="a", secret_access_token="b"
        )
        integ_id = integ.id
        cliente = create_record(s, loja_a.id, "cliente", {"nome": "João Silva Santos", "cpf": valid_cpf(100200300)})
        link = Binder(id_loja=loja_a.id, id_integracao=integ_id, provider="gestao_click").new_link(
            "cliente",
            cliente.id,
            "55",
            base={"nome": "João Silva"},
            local_hash=None,
            remote_version=None,
            remote_modified_at=None,
        )
        link.status = "conflito"
        s.add(link)
        conflict = CrmConflito(
            id_loja=loja_a.id,
            id_integracao=integ_id,
            entity_type="cliente",
            entity_id=cliente.id,
            external_id="55",
            campos={"nome": {"base": "João Silva", "local": "João Silva Santos", "externo": "J. Silva"}},
            dados_local={"nome": "João Silva Santos"},
            dados_externo={"nome": "J. Silva"},
            status="pendente",
        )
        s.add(conflict)
        s.flush()
        conflito_id = conflict.id
    provider = GestaoClickProvider(
        base_url,
        credentials={"access_token": "a", "secret_access_token": "b"},
        config=parse_config({}),
        rate_limit_per_second=None,
        daily_quota=None,
        max_attempts=1,
        timeout=120,
    )
    engine = SyncEngine(get_sessionmaker(), integ_id, provider=provider, options=RunOptions(trigger="manual"))
    errors: list[BaseException] = []

    def decide() -> None:
        try:
            engine.resolve_conflict(conflito_id, "local", actor="ana@loja")
        except Exception as exc:
            errors.append(exc)

    decider = threading.Thread(target=decide, daemon=True)
    decider.start()
    try:
        assert hung.got_request.wait(60), "store A's decision never called its CRM"
        with httpx.Client(base_url=app.url, timeout=120, headers={"Authorization": f"Bearer {key_b}"}) as c:
            r = c.post("/api/clientes", json={"nome": "Bia", "cpf": valid_cpf(100200301)})
            assert r.status_code == 201, r.text
            assert c.put(f"/api/clientes/{r.json()['id']}", json={"observacoes": "ok"}).status_code == 200
        assert decider.is_alive() and not hung.release.is_set()  # A's decision still waits on its CRM
    finally:
        hung.release.set()
        decider.join(60)
        engine.close()
    assert errors  # the CRM failed: the decision did not happen ...
    with session_scope() as s:
        stored = s.get(CrmConflito, conflito_id)
        assert stored is not None and stored.status == "pendente"  # ... and the conflict still waits
