"""Change detection on the ERP's tables: the quick pass by watermark, the full hash scan
behind it, vanished keys, and the ERP's own other tables left alone."""

from __future__ import annotations

from datetime import UTC, datetime

from erp_world import Erp
from sqlalchemy import select

from crmsync.db.sync import CrmIntegracao
from crmsync.jobs import dirty_local_ids

ERP_ONLY = ("lojas", "clientes", "produtos")  # the ERP's tables no map names


def _dirty(erp: Erp, entity_type: str, *, full_scan: bool) -> list[int]:
    with erp.sf() as s:
        integ = s.scalar(select(CrmIntegracao).where(CrmIntegracao.id == erp.integracao_id))
        assert integ is not None
        return dirty_local_ids(s, integ, entity_type, full_scan=full_scan)


def test_watermark_pass_then_full_hash_scan_as_the_safety_net(erp: Erp) -> None:
    others = {t: erp.all(f"SELECT * FROM {t} ORDER BY 1") for t in ERP_ONLY}
    erp.engine().push("cliente")
    assert _dirty(erp, "cliente", full_scan=False) == []  # the two that never converted are parked failed items
    # the PHP stamps its change: the quick pass (watermark) finds it
    stamp = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    erp.sql("UPDATE cad_clientes SET fone = '(11) 3333-0000', dt_alteracao = :t WHERE cod_cli = 2", t=stamp)
    assert 2 in _dirty(erp, "cliente", full_scan=False)
    # a bulk fix that forgets dt_alteracao: only the full hash scan finds it
    erp.sql("UPDATE cad_clientes SET email = 'maria@example.com' WHERE cod_cli = 3")
    assert 3 not in _dirty(erp, "cliente", full_scan=False)
    assert 3 in _dirty(erp, "cliente", full_scan=True)
    # a key that vanished (hard delete) is found by both passes
    erp.sql("DELETE FROM cad_clientes WHERE cod_cli = 1 AND NOT EXISTS (SELECT 1 FROM pedidos WHERE cod_cli = 1)")
    erp.sql("DELETE FROM pedidos_itens")
    erp.sql("DELETE FROM pedidos")
    erp.sql("DELETE FROM cad_clientes WHERE cod_cli = 1")
    assert 1 in _dirty(erp, "cliente", full_scan=False) and 1 in _dirty(erp, "cliente", full_scan=True)
    erp.engine().push("cliente")
    assert _dirty(erp, "cliente", full_scan=True) == []
    # the ERP's tables that no map names are exactly as they were
    assert {t: erp.all(f"SELECT * FROM {t} ORDER BY 1") for t in ERP_ONLY} == others


def test_products_without_modified_column_are_always_fully_scanned(erp: Erp) -> None:
    erp.engine().push("produto")
    assert _dirty(erp, "produto", full_scan=False) == []
    erp.sql("UPDATE cad_produtos SET unidade = 'KG' WHERE cod_prod = 2")
    assert _dirty(erp, "produto", full_scan=False) == [2]
