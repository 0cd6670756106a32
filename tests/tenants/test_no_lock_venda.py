"""A venda pushed with its dependencies calls the CRM with no transaction open: with store A's
CRM hung while A's venda push syncs its cliente first, store B's writes go through (SQLite:
one write lock for the whole file; PostgreSQL: the same test, no lock waits either)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from crmsync.config import parse_config
from crmsync.db.local import Venda, VendaItem
from crmsync.db.session import get_sessionmaker, session_scope
from crmsync.engine import RunOptions, SyncEngine
from crmsync.providers.gestaoclick import GestaoClickProvider
from crmsync.services.integracoes import create_integracao
from crmsync.services.local_data import create_record
from crmsync.services.lojas import create_loja

from .conftest import LiveApp, use_database, valid_cpf
from .test_no_lock_across_crm import HungServer, hung  # noqa: F401  (the fixture)


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_hung_crm_during_a_venda_push_does_not_block_another_store(
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
        cliente = create_record(s, loja_a.id, "cliente", {"nome": "Ana", "cpf": valid_cpf(100200300)})
        produto = create_record(s, loja_a.id, "produto", {"nome": "Caneta", "codigo": "CAN-1", "valor_venda": "3"})
        venda = Venda(id_loja=loja_a.id, id_cliente=cliente.id, data=date(2025, 1, 14), valor_total=Decimal("6"))
        venda.itens.append(
            VendaItem(id_produto=produto.id, quantidade=Decimal(2), valor_unitario=Decimal(3), valor_total=Decimal(6))
        )
        s.add(venda)
        s.flush()
        venda_id = venda.id
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
    results: list[object] = []
    pusher = threading.Thread(target=lambda: results.append(engine.push_one("venda", venda_id)), daemon=True)
    pusher.start()
    try:
        assert hung.got_request.wait(60), "store A's venda push never called its CRM"
        with httpx.Client(base_url=app.url, timeout=120, headers={"Authorization": f"Bearer {key_b}"}) as c:
            r = c.post("/api/clientes", json={"nome": "Bia", "cpf": valid_cpf(100200301)})
            assert r.status_code == 201, r.text
            assert c.put(f"/api/clientes/{r.json()['id']}", json={"observacoes": "ok"}).status_code == 200
        assert pusher.is_alive() and not hung.release.is_set()  # A's venda push still waits on its CRM
    finally:
        hung.release.set()
        pusher.join(60)
        engine.close()
    assert results and not results[0].success  # type: ignore[attr-defined]
    assert "cliente" in (results[0].message or "")  # type: ignore[attr-defined]
