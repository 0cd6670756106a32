"""Change detection on the ERP's tables: the quick pass by watermark, the full hash scan
behind it, vanished keys, and the ERP's own other tables left alone."""

from __future__ import annotations

from datetime import UTC, datetime

from erp_world import Erp
from sqlalchemy import select

from crmsync.db.sync import CrmIntegracao
from crmsync.runtime.jobs import dirty_local_ids

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


def test_a_not_null_deleted_at_column_with_a_zero_date_means_live(db_url: str) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.orm import Session

    from crmsync.erp.schema_map import parse_schema_map
    from crmsync.erp.table import mapped_schema

    dt = "TIMESTAMP" if db_url.startswith("postgresql") else "DATETIME"
    zero = "'1970-01-01 00:00:00'" if db_url.startswith("postgresql") else "'0000-00-00 00:00:00'"
    engine = create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(
            text(
                f"CREATE TABLE cli (id INTEGER PRIMARY KEY, nome VARCHAR(40), excluido_em {dt} NOT NULL DEFAULT {zero})"
            )
        )
        conn.execute(text("INSERT INTO cli (id, nome) VALUES (1, 'viva')"))
        conn.execute(text("INSERT INTO cli (id, nome, excluido_em) VALUES (2, 'excluida', '2024-02-03 04:05:06')"))
    schema = mapped_schema(
        parse_schema_map(
            {
                "entidades": {
                    "cliente": {
                        "tabela": "cli",
                        "chave_primaria": "id",
                        "loja": {"fixa": 1},
                        "exclusao": {"modo": "data", "coluna": "excluido_em", "valor_ativo": zero.strip("'")},
                        "campos": {"nome": {"coluna": "nome"}},
                    }
                }
            }
        )
    )
    ent = schema.entity("cliente")
    try:
        with Session(engine) as s:
            live = s.scalars(select(ent.table.c.id).where(ent.live_clause()).order_by(ent.table.c.id)).all()
            assert list(live) == [1]
            rows = {r.id: r for r in s.scalars(select(ent.cls))}
            assert rows[1].deletado_em is None and rows[2].deletado_em is not None
    finally:
        engine.dispose()
