"""Writes into the ERP's tables: a value the column cannot hold fails that record with the
database's message and nothing half-written, text is never cut, and a linked row that no
longer converts is neither pushed nor written back."""

from __future__ import annotations

from typing import Any

import pytest
from erp_world import Erp
from sqlalchemy import text

from crmsync.db.session import make_engine

LONG_CODE = "OVO-12-CAIXA-COM-DOZE-UNIDADES"  # 30 characters; the ERP's referencia is CHAR(20)


def test_a_value_the_column_cannot_hold_fails_that_record_only(erp: Erp) -> None:
    erp.sb.panel_create(
        "produtos",
        {"nome": "Arroz 5kg", "codigo_interno": "ARR-5", "valor_venda": "25", "valor_custo": "20", "unidade": "UN"},
    )
    erp.sb.panel_create(
        "produtos",
        {
            "nome": "Caixa de ovos",
            "codigo_interno": LONG_CODE,
            "valor_venda": "12",
            "valor_custo": "9",
        },
    )
    result = erp.engine().pull("produto")
    assert erp.one("SELECT cod_prod FROM cad_produtos WHERE referencia = 'ARR-5'") is not None
    ovos = erp.one("SELECT referencia FROM cad_produtos WHERE descricao = 'Caixa de ovos'")
    if erp.url.startswith("sqlite"):  # SQLite keeps any length: stored whole, never cut
        assert ovos is not None and ovos.referencia == LONG_CODE
        return
    assert ovos is None  # refused by referencia CHAR(20): nothing of the record written
    errors = [e["erro"] for e in result.erros]
    assert len(errors) == 1 and "[SQL" not in errors[0]
    assert "referencia" in errors[0] or "too long" in errors[0].lower(), errors


def test_a_linked_row_that_stops_converting_is_neither_pushed_nor_written(erp: Erp) -> None:
    erp.engine().push("cliente")
    jose = erp.remote("clientes", "nome", "José da Conceição")[0]
    erp.sql("UPDATE cad_clientes SET cpf = '111.444.777-00' WHERE cod_cli = 1")  # the PHP saved a bad CPF
    erp.sb.panel_update("clientes", jose["id"], {**jose, "email": "outro@example.com"})
    before = erp.one("SELECT * FROM cad_clientes WHERE cod_cli = 1")
    writes = erp.writes()
    erp.engine().push("cliente")
    erp.engine().pull("cliente")
    assert erp.writes() == writes  # nothing pushed for it
    assert erp.one("SELECT * FROM cad_clientes WHERE cod_cli = 1") == before  # nothing written back
    failed = [f for f in erp.failed("cliente") if f.entity_id == 1 or f.external_id == str(jose["id"])]
    assert failed and all("cad_clientes #1" in (f.ultimo_erro or "") for f in failed)


@pytest.mark.mariadb
def test_our_mariadb_sessions_are_strict_whatever_the_server_default(fresh_database: Any) -> None:
    engine = make_engine(fresh_database("mariadb"))
    try:
        with engine.connect() as conn:
            conn.execute(text("SET SESSION sql_mode = ''"))  # what an old PHP server runs with
        with engine.connect() as conn:  # a new connection of ours: strict again
            conn.invalidate()
        with engine.connect() as conn:
            assert "STRICT_ALL_TABLES" in conn.execute(text("SELECT @@SESSION.sql_mode")).scalar_one()
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    "kind", [pytest.param("postgresql", marks=pytest.mark.postgres), pytest.param("mariadb", marks=pytest.mark.mariadb)]
)
def test_a_row_the_erp_changed_after_it_was_read_is_not_written_over(
    kind: str, fresh_database: Any, sandbox: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    from erp_world import attach

    from crmsync.engine.links import Binder
    from crmsync.engine.local_repo import LocalRepo
    from crmsync.erp.table import ConcurrentChange

    erp = attach(fresh_database(kind), sandbox, monkeypatch, tmp_path)
    try:
        repo = LocalRepo(id_loja=1, binder=Binder(id_loja=1, id_integracao=erp.integracao_id, provider="gestao_click"))
        with erp.sf() as s, s.begin():
            row = repo.get(s, "cliente", 1)  # read (as a push or pull does) ...
            erp.sql("UPDATE cad_clientes SET fone = '(11) 4000-0000' WHERE cod_cli = 1")  # ... the PHP writes ...
            with pytest.raises(ConcurrentChange):
                repo.apply("cliente", row, {"email": "crm@example.com"})  # ... so nothing is written over it
        assert tuple(erp.one("SELECT fone, email FROM cad_clientes WHERE cod_cli = 1")) == (
            "(11) 4000-0000",
            "jose@example.com",
        )
        with erp.sf() as s, s.begin():  # read afresh, the write goes through
            row = repo.get(s, "cliente", 1)
            repo.apply("cliente", row, {"email": "crm@example.com"})
        assert erp.one("SELECT email FROM cad_clientes WHERE cod_cli = 1").email == "crm@example.com"
    finally:
        erp.close()
