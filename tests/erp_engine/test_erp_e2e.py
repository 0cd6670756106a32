"""crmsync attached to a legacy ERP's own tables (tests/erp_core/legacy_schema.py) through a
schema map, end to end against the GestãoClick sandbox over HTTP, on SQLite, PostgreSQL and
MariaDB: push, pull, sync, conflicts, deletes on both sides, rows that do not convert."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from erp_world import Erp, ddl_only
from sqlalchemy import select

from crmsync.db.sync import CrmConflito


def test_push_sends_converted_rows_and_reports_legacy_rows_that_do_not_convert(erp: Erp) -> None:
    ddl = ddl_only(erp.url)
    fantasia = erp.all("SELECT cod_cli, fantasia, tipo_cad FROM cad_clientes ORDER BY cod_cli")
    summary = erp.engine().push("cliente")
    jose = erp.remote("clientes", "nome", "José da Conceição")
    assert len(jose) == 1 and jose[0]["cpf"] in ("111.444.777-35", "11144477735")
    padaria = erp.remote("clientes", "nome", "Padaria Pão Quente Ltda")
    assert len(padaria) == 1 and "06990590000123" in padaria[0]["cnpj"].replace(".", "").replace("/", "").replace(
        "-", ""
    )
    # the two legacy rows that do not convert: failed items naming table, key and reason
    failed = erp.failed("cliente")
    assert sorted(f.entity_id for f in failed) == [4, 5]
    assert all("cad_clientes #" in (f.ultimo_erro or "") for f in failed)
    assert "cpf" in (failed[0].ultimo_erro or "") and "nome" in (failed[1].ultimo_erro or "")
    # said for a person: the field and what is wrong, not pydantic's English or its URL
    assert (failed[1].ultimo_erro or "").endswith("cad_clientes #5: nome: vazio"), failed[1].ultimo_erro
    assert not erp.remote("clientes", "nome", "CPF Errado")
    assert summary.total >= 5
    # a second run sends nothing (no echo) and the ERP's rows and DDL are untouched
    writes = erp.writes()
    erp.engine().push("cliente")
    assert erp.writes() == writes
    assert erp.all("SELECT cod_cli, fantasia, tipo_cad FROM cad_clientes ORDER BY cod_cli") == fantasia
    assert ddl_only(erp.url) == ddl


def test_pull_and_edits_both_ways_touch_only_mapped_columns(erp: Erp) -> None:
    erp.engine().push("cliente")
    before = erp.all("SELECT cod_cli, fantasia, obs, tipo_cad, cod_empresa FROM cad_clientes ORDER BY cod_cli")
    # created in the CRM's panel -> a new ERP row in the ERP's own spelling
    erp.sb.panel_create(
        "clientes", {"nome": "Ana Pull", "tipo_pessoa": "PF", "cpf": "39053344705", "email": "ana@x.com"}
    )
    result = erp.engine().pull("cliente")
    assert result.success and result.total_criados == 1, result.erros
    ana = erp.one(
        "SELECT cod_cli, razao, cpf, email, ativo, tipo_cad, cod_empresa FROM cad_clientes WHERE razao = 'Ana Pull'"
    )
    assert ana is not None
    assert (ana.cpf, ana.email, ana.ativo, ana.tipo_cad, ana.cod_empresa) == (
        "390.533.447-05",
        "ana@x.com",
        "S",
        "C",
        1,
    )
    # edited in the panel -> only that column changes in the ERP
    jose = erp.remote("clientes", "nome", "José da Conceição")[0]
    erp.sb.panel_update("clientes", jose["id"], {**jose, "email": "jose.novo@example.com"})
    result = erp.engine().pull("cliente")
    assert result.success and result.total_atualizados == 1, result.erros
    assert erp.one("SELECT email FROM cad_clientes WHERE cod_cli = 1").email == "jose.novo@example.com"
    # edited by the ERP's PHP with plain SQL -> pushed
    erp.sql("UPDATE cad_clientes SET fone = '(11) 3522-0000', dt_alteracao = :now WHERE cod_cli = 1", now=_now())
    summary = erp.engine().push("cliente")
    assert summary.total >= 1
    assert erp.sb.panel_get("clientes", jose["id"])["telefone"].replace(" ", "").endswith("3522-0000")
    # nothing echoes: another push and pull write nothing anywhere
    writes = erp.writes()
    erp.engine().push("cliente")
    erp.engine().pull("cliente")
    assert erp.writes() == writes
    after = erp.all("SELECT cod_cli, fantasia, obs, tipo_cad, cod_empresa FROM cad_clientes ORDER BY cod_cli")
    assert [tuple(r) for r in after if r.cod_cli in {b.cod_cli for b in before}] == [tuple(r) for r in before]
    # no duplicates on either side
    assert len(erp.remote("clientes", "nome", "Ana Pull")) == 1
    assert len(erp.all("SELECT cod_cli FROM cad_clientes WHERE razao = 'Ana Pull'")) == 1


def test_conflict_keeps_both_sides_until_decided(erp: Erp) -> None:
    erp.engine().push("cliente")
    jose = erp.remote("clientes", "nome", "José da Conceição")[0]
    erp.sb.panel_update("clientes", jose["id"], {**jose, "email": "crm@example.com"})
    erp.sql("UPDATE cad_clientes SET email = 'erp@example.com', dt_alteracao = :now WHERE cod_cli = 1", now=_now())
    erp.set_config({"estrategia_padrao": "manual"})
    summary = erp.engine().push("cliente")
    assert summary.conflitos >= 1
    assert erp.one("SELECT email FROM cad_clientes WHERE cod_cli = 1").email == "erp@example.com"
    assert erp.sb.panel_get("clientes", jose["id"])["email"] == "crm@example.com"


def test_deletes_on_both_sides(erp: Erp) -> None:
    erp.set_config({"limite_exclusao_em_massa": 1.0})
    erp.engine().push("cliente")
    padaria = erp.remote("clientes", "nome", "Padaria Pão Quente Ltda")[0]
    # the ERP hard-deletes a row: its key vanished, the link stays -> deactivated in the CRM
    erp.sql("DELETE FROM cad_clientes WHERE cod_cli = 2")
    summary = erp.engine().push("cliente")
    assert summary.total >= 1
    assert str(erp.sb.panel_get("clientes", padaria["id"]).get("ativo")) in ("0", "False", "false")
    link = erp.link("cliente", 2)
    assert link is not None and link.status == "desativado"
    # deleted in the CRM -> the ERP row is deleted (hard-delete convention), nothing else
    maria = erp.remote("clientes", "nome", "Maria Inativa")[0]
    erp.sb.panel_delete("clientes", maria["id"])
    # ... unless the ERP refuses: José has a pedido (foreign key) -> an error with the
    # database's message, José's row untouched, the run goes on
    jose = erp.remote("clientes", "nome", "José da Conceição")[0]
    erp.sb.panel_delete("clientes", jose["id"])
    jose_row = erp.one("SELECT * FROM cad_clientes WHERE cod_cli = 1")
    result = erp.engine().pull("cliente")
    assert erp.one("SELECT cod_cli FROM cad_clientes WHERE cod_cli = 3") is None
    assert erp.one("SELECT * FROM cad_clientes WHERE cod_cli = 1") == jose_row
    refused = [e for e in result.erros if e["external_id"] == str(jose["id"])]
    assert len(refused) == 1 and "ERP" in refused[0]["erro"] and "[SQL" not in refused[0]["erro"]
    assert erp.one("SELECT cod_cli FROM cad_clientes WHERE cod_cli = 4") is not None  # the others stay
    writes = erp.writes()
    erp.engine().push("cliente")
    assert erp.writes() == writes


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def test_products_without_modified_column_and_vendas_with_items(erp: Erp) -> None:
    ddl = ddl_only(erp.url)
    summary = erp.engine().push("produto")
    assert summary.erros == 0, [r.message for r in summary.itens if not r.success]
    acucar = erp.remote("produtos", "codigo_interno", "ACU-1")
    assert len(acucar) == 1 and acucar[0]["nome"] == "Açúcar cristal 1kg"
    assert "4.99" in str(acucar[0]["valor_venda"])
    feijao = erp.remote("produtos", "codigo_interno", "FEI-1")
    assert len(feijao) == 1 and "1234.5" in str(feijao[0]["valor_venda"])
    # no modified column: a plain UPDATE is found by the full hash scan
    erp.sql("UPDATE cad_produtos SET preco_venda = '5,49' WHERE cod_prod = 1")
    erp.engine().push("produto")
    assert "5.49" in str(erp.sb.panel_get("produtos", acucar[0]["id"])["valor_venda"])
    # a pedido and its items: the cliente and produtos it references go first
    summary = erp.engine().push("venda")
    assert summary.erros == 0, [r.message for r in summary.itens if not r.success]
    vendas = erp.sb.panel_list("vendas")
    assert len(vendas) == 1
    writes = erp.writes()
    erp.engine().push("venda")
    erp.engine().push("produto")
    assert erp.writes() == writes
    assert erp.one("SELECT preco_venda FROM cad_produtos WHERE cod_prod = 1").preco_venda == "5,49"
    assert ddl_only(erp.url) == ddl


def test_a_hard_delete_held_as_a_conflict_is_decided_in_the_console(erp: Erp) -> None:
    erp.set_config({"limite_exclusao_em_massa": 1.0, "entidades": {"cliente": {"delete_remoto": "conflict"}}})
    erp.engine().push("cliente")
    maria = erp.remote("clientes", "nome", "Maria Inativa")[0]
    erp.sql("DELETE FROM cad_clientes WHERE cod_cli = 3")
    summary = erp.engine().push("cliente")
    assert summary.conflitos == 1
    with erp.sf() as s:
        conflito = s.scalar(select(CrmConflito).where(CrmConflito.entity_id == 3, CrmConflito.status == "pendente"))
        assert conflito is not None
        conflito_id = conflito.id
    with pytest.raises(ValueError, match="não pode ser restaurada"):
        erp.engine().resolve_conflict(conflito_id, "externo")  # a row the ERP deleted cannot come back
    result = erp.engine().resolve_conflict(conflito_id, "local")  # confirm: deleted in the CRM too
    assert result["success"]
    assert not [r for r in erp.sb.panel_list("clientes") if r["id"] == maria["id"]]
    link = erp.link("cliente", 3)
    assert link is not None and link.status == "excluido_local"
