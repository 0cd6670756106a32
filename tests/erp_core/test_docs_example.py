"""docs/erp.md's complete example is real: its schema (SQL) builds on MariaDB, rows the PHP
would write go in, and its map loads, passes `schema check`, takes triggers and lets them go
with the ERP's DDL unchanged."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from crmsync.cli import app
from crmsync.erp.schema_map import CANONICAL_FIELDS, load_schema_map

from .legacy_schema import erp_ddl

DOC = Path(__file__).resolve().parents[2] / "docs" / "erp.md"
TABLES = ("tb_clientes", "tb_produtos", "tb_vendas", "tb_vendas_itens")
ROWS = [
    "INSERT INTO tb_clientes (id_empresa, tipo, nome, cpf_cnpj, email, fone, cep, dt_nascimento, situacao,"
    " id_vendedor, dt_cadastro) VALUES (1, 'F', 'João Conceição', '111.444.777-35', 'joao@example.com',"
    " '(11) 3522-8899', '01310-100', '0000-00-00', 'A', 3, NOW())",
    "INSERT INTO tb_clientes (id_empresa, tipo, nome, fantasia, cpf_cnpj, situacao, excluido, id_vendedor,"
    " dt_cadastro) VALUES (1, 'J', 'Padaria Pão Quente Ltda', 'Pão Quente', '06.990.590/0001-23', 'A', 'N', 3, NOW())",
    "INSERT INTO tb_produtos (id_empresa, descricao, referencia, preco_venda, unidade)"
    " VALUES (1, 'Açúcar cristal 1kg', 'ACU-1', 4.99, 'UN')",
    "INSERT INTO tb_vendas (id_empresa, id_cliente, numero, dt_venda, total)"
    " VALUES (1, 1, 'V-1', '2024-03-04', '9,98')",
    "INSERT INTO tb_vendas_itens (id_venda, id_produto, qtde, valor_unit) VALUES (1, 1, 2, 4.99)",
]


def _block(lang: str) -> str:
    match = re.search(rf"```{lang}\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert match is not None, f"no {lang} block in {DOC}"
    return match.group(1)


def test_docs_example_map_checks_against_its_schema(fresh_database: Any, tmp_path: Path) -> None:
    url = fresh_database("mariadb")
    engine = create_engine(url)
    with engine.begin() as conn:
        for stmt in filter(str.strip, _block("sql").split(";")):
            conn.execute(text(stmt))
        for stmt in ROWS:
            conn.execute(text(stmt))
    engine.dispose()
    map_path = tmp_path / "mapa-erp.yaml"
    map_path.write_text(_block("yaml"), encoding="utf-8")
    smap = load_schema_map(map_path)
    assert set(smap.entidades) == {"cliente", "produto", "venda"}
    before = erp_ddl(url, TABLES)

    runner = CliRunner()
    r = runner.invoke(app, ["schema", "check", str(map_path), "--url", url])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["schema", "triggers", "install", str(map_path), "--url", url])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["schema", "triggers", "remove", "--url", url])
    assert r.exit_code == 0, r.output
    assert erp_ddl(url, TABLES) == before

    # The draft inspect makes of it finds the same tables, and checks as it stands.
    draft_path = tmp_path / "rascunho.yaml"
    r = runner.invoke(app, ["schema", "inspect", "--url", url, "-o", str(draft_path), "--json"])
    assert r.exit_code == 0, r.output
    draft = json.loads(r.stdout)["mapa"]["entidades"]
    assert draft["cliente"]["tabela"] == "tb_clientes" and draft["venda"]["itens"]["tabela"] == "tb_vendas_itens"
    campos = draft["cliente"]["campos"]
    assert campos["tipo_pessoa"] == {
        "coluna": "tipo",
        "conversor": "valores",
        "opcoes": {"valores": {"F": "PF", "J": "PJ"}},
    }
    assert campos["cpf"]["conversor"] == campos["cnpj"]["conversor"] == "documento"
    assert draft["cliente"]["exclusao"] == {
        "modo": "flag",
        "coluna": "excluido",
        "valor_excluido": "S",
        "valor_ativo": "N",
    }
    r = runner.invoke(app, ["schema", "check", str(draft_path), "--url", url])
    assert r.exit_code == 0, r.output


def test_the_canonical_fields_listed_in_the_docs_are_the_models() -> None:
    """docs/erp.md's table of canonical fields is what a map may name, no more, no less."""

    text = (Path(__file__).parents[2] / "docs" / "erp.md").read_text(encoding="utf-8")
    section = text.split("### Canonical fields", 1)[1].split("\n\n", 3)[2]
    listed = {}
    for line in section.splitlines()[2:]:
        entity, fields = (cell.strip() for cell in line.strip("|").split("|"))
        listed[entity.strip("`").replace("venda.itens", "item")] = set(re.findall(r"`(\w+)`", fields))
    assert listed == {k: set(v) for k, v in CANONICAL_FIELDS.items()}
