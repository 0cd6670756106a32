"""`crmsync schema inspect` and `schema check` on a legacy ERP schema built with plain SQL,
on SQLite, PostgreSQL and MariaDB: the draft guesses the spellings the PHP used, loads as
a valid map, and check lists exactly the rows that will not convert, then passes once
they are fixed; a map that does not fit the database exits 2 naming the key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from crmsync.cli import app
from crmsync.db.schema import upgrade
from crmsync.erp.check import check_schema_map
from crmsync.erp.schema_map import default_schema_map, load_schema_map

from .legacy_schema import ERP_TABLES, build_legacy_erp, erp_ddl, run_sql


def _inspect(runner: CliRunner, url: str, out: Path) -> dict[str, Any]:
    r = runner.invoke(app, ["schema", "inspect", "--url", url, "-o", str(out), "--json"])
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)  # type: ignore[no-any-return]


def test_inspect_guesses_the_legacy_spellings(runner: CliRunner, db_url: str, tmp_path: Path) -> None:
    build_legacy_erp(db_url)
    before = erp_ddl(db_url)
    draft_path = tmp_path / "mapa.yaml"
    data = _inspect(runner, db_url, draft_path)["mapa"]
    ents = data["entidades"]
    cli = ents["cliente"]
    assert (cli["tabela"], cli["chave_primaria"], cli["loja"]) == ("cad_clientes", "cod_cli", {"coluna": "cod_empresa"})
    assert cli["modificado_em"] == "dt_alteracao"
    campos = cli["campos"]
    assert campos["nome"]["coluna"] == "razao"
    assert campos["cpf"]["conversor"] == "cpf_formatado"
    assert campos["cnpj"]["conversor"] == "cnpj_numero"  # BIGINT that lost its leading zero
    assert campos["data_nascimento"]["conversor"] == "data_zero"
    assert campos["ativo"] == {"coluna": "ativo", "conversor": "flag", "opcoes": {"verdadeiro": "S", "falso": "N"}}
    assert campos["telefone"]["conversor"] == "telefone" and campos["cep"]["opcoes"]["formato"] == "formatado"
    prod = ents["produto"]
    assert prod["tabela"] == "cad_produtos" and prod["loja"] == {"fixa": 1} and "modificado_em" not in prod
    assert prod["campos"]["valor_venda"]["conversor"] == "dinheiro_virgula"
    assert prod["campos"]["ativo"]["opcoes"] == {"verdadeiro": "A", "falso": "I"}
    if db_url.startswith("mysql"):
        assert prod["campos"]["nome"]["opcoes"]["charset"] == "latin1"
        assert "charset" not in campos["nome"].get("opcoes", {})
    venda = ents["venda"]
    assert (venda["tabela"], venda["itens"]["tabela"], venda["itens"]["coluna_venda"]) == (
        "pedidos",
        "pedidos_itens",
        "num_ped",
    )
    # The YAML file: every guess marked, and a valid map as it stands.
    draft = draft_path.read_text(encoding="utf-8")
    assert draft.count("# revisar") >= 20
    assert yaml.safe_load(draft) == data
    load_schema_map(draft_path)
    assert erp_ddl(db_url) == before  # inspect only reads
    # Never overwrites an existing map.
    r = runner.invoke(app, ["schema", "inspect", "--url", db_url, "-o", str(draft_path)])
    assert r.exit_code == 2 and "já existe" in r.stderr


def test_check_lists_rows_that_will_not_convert_then_passes(runner: CliRunner, db_url: str, tmp_path: Path) -> None:
    build_legacy_erp(db_url)
    draft_path = tmp_path / "mapa.yaml"
    _inspect(runner, db_url, draft_path)
    before = erp_ddl(db_url)

    r = runner.invoke(app, ["schema", "check", str(draft_path), "--url", db_url, "--json"])
    assert r.exit_code == 1  # the map is sound; rows will not convert
    assert len(r.stderr.strip().splitlines()) == 1 and "cad_clientes chave 4" in r.stderr
    report = json.loads(r.stdout)
    assert report["problemas"] == []
    bad = {(row["tabela"], row["chave"], row["campo"]) for row in report["linhas_com_erro"]}
    assert bad == {("cad_clientes", "4", "cpf"), ("cad_clientes", "5", "nome")}
    assert report["linhas_verificadas"] == {"cliente": 5, "produto": 2, "venda": 1, "venda.itens": 1}

    engine = create_engine(db_url)
    with engine.begin() as conn:  # the store fixes its data
        conn.execute(text("UPDATE cad_clientes SET cpf = '111.444.777-35' WHERE cod_cli = 4"))
        conn.execute(text("UPDATE cad_clientes SET razao = 'Nome Corrigido' WHERE cod_cli = 5"))
    engine.dispose()
    r = runner.invoke(app, ["schema", "check", str(draft_path), "--url", db_url])
    assert r.exit_code == 0, r.output
    assert "mapa confere" in r.stdout
    after = erp_ddl(db_url)
    assert {t: {k: v for k, v in s.items() if k != "rows"} for t, s in after.items()} == {
        t: {k: v for k, v in s.items() if k != "rows"} for t, s in before.items()
    }


def _edit(path: Path, old: str, new: str) -> Path:
    text_ = path.read_text(encoding="utf-8")
    assert old in text_, old
    out = path.with_name("editado.yaml")
    out.write_text(text_.replace(old, new, 1), encoding="utf-8")
    return out


@pytest.mark.parametrize(
    ("old", "new", "words"),
    [
        (
            "tabela: cad_produtos",
            "tabela: cad_produtos_x",
            "entidades.produto.tabela: tabela 'cad_produtos_x' não existe",
        ),
        (
            "{coluna: email,",
            "{coluna: e_mail_x,",
            "entidades.cliente.campos.email.coluna: coluna 'e_mail_x' não existe",
        ),
        (
            "cnpj: {coluna: cnpj, conversor: cnpj_numero}",
            "cnpj: {coluna: cnpj, conversor: cnpj_formatado}",
            "entidades.cliente.campos.cnpj.conversor: 'cnpj_formatado' não serve",
        ),
        ("modificado_em: dt_alteracao", "modificado_em: fantasia", "entidades.cliente.modificado_em: a coluna"),
        (
            "valor_total: {coluna: total, conversor: decimal, opcoes: {casas: 2}}",
            "valor_total: {coluna: total, conversor: decimal}",
            "entidades.venda.campos.valor_total.opcoes.casas: a coluna 'total' guarda 2 casas",
        ),
        ("opcoes: {tamanho: 120}}", "opcoes: {tamanho: 500}}", "entidades.cliente.campos.nome.opcoes.tamanho: 500"),
        (
            "chave_primaria: cod_cli",
            "chave_primaria: fantasia",
            "entidades.cliente.chave_primaria: a coluna 'fantasia'",
        ),
    ],
)
def test_check_refuses_a_map_that_does_not_fit(
    runner: CliRunner, db_url: str, tmp_path: Path, old: str, new: str, words: str
) -> None:
    build_legacy_erp(db_url)
    draft_path = tmp_path / "mapa.yaml"
    _inspect(runner, db_url, draft_path)
    r = runner.invoke(app, ["schema", "check", str(_edit(draft_path, old, new)), "--url", db_url])
    assert r.exit_code == 2
    assert len(r.stderr.strip().splitlines()) == 1
    assert words in r.stderr, r.stderr


def test_latin1_column_without_charset_guard_is_a_problem(
    runner: CliRunner, fresh_database: Any, tmp_path: Path
) -> None:
    url = fresh_database("mariadb")
    build_legacy_erp(url)
    draft_path = tmp_path / "mapa.yaml"
    _inspect(runner, url, draft_path)
    edited = _edit(
        draft_path, "nome: {coluna: descricao, opcoes: {charset: latin1, tamanho: 100}}", "nome: {coluna: descricao}"
    )
    r = runner.invoke(app, ["schema", "check", str(edited), "--url", url])
    assert r.exit_code == 2 and "charset" in r.stderr and "latin1" in r.stderr


def test_bad_map_and_bad_url_exit_2_with_one_line(runner: CliRunner, tmp_path: Path, sqlite_url: str) -> None:
    build_legacy_erp(sqlite_url)
    bad = tmp_path / "ruim.yaml"
    bad.write_text(
        "versao: 1\nentidades:\n  cliente: {tabela: t, chave_primaria: id, loja: {fixa: 1}, campos: "
        "{nome: {coluna: n, conversor: cpf_x}}}\n",
        encoding="utf-8",
    )
    for args in (
        ["schema", "check", str(bad), "--url", sqlite_url],
        ["schema", "triggers", "install", str(bad), "--url", sqlite_url],
    ):
        r = runner.invoke(app, args)
        assert r.exit_code == 2
        assert (
            r.stderr.strip().splitlines() == [r.stderr.strip()]
            and "entidades.cliente.campos.nome.conversor" in r.stderr
        )
    r = runner.invoke(app, ["schema", "check", "--url", sqlite_url])
    assert r.exit_code == 2 and "CRMSYNC_SCHEMA_MAP" in r.stderr
    r = runner.invoke(app, ["schema", "inspect", "--url", "postgresql+psycopg://nobody:secret@127.0.0.1:1/x"])
    assert r.exit_code == 2 and "conectar" in r.stderr and "secret" not in r.stderr
    assert set(ERP_TABLES) <= set(
        json.loads(runner.invoke(app, ["schema", "inspect", "--url", sqlite_url, "--json"]).stdout)["tabelas"]
    )


def test_default_map_checks_clean_against_our_own_tables(db_url: str) -> None:
    """Our built-in tables are just the default map: it fits them on every database."""
    upgrade(db_url, local_tables=True)
    engine = create_engine(db_url)
    try:
        run_sql(
            engine,
            "INSERT INTO crm_lojas (id, nome, api_key_hash, api_key_prefix, ativo, cadastrado_em)"
            " VALUES (1, 'Loja', 'h', 'p', :t, '2026-01-01 00:00:00')",
            "INSERT INTO clientes (id, id_loja, tipo_pessoa, nome, cpf, telefone, data_nascimento, ativo,"
            " cadastrado_em, modificado_em) VALUES (1, 1, 'PF', 'Ana', '52998224725', '+551135228899',"
            " '1990-05-17', :t, '2026-01-01 00:00:00', '2026-01-01 00:00:00')",
        )
        report = check_schema_map(default_schema_map(), engine)
    finally:
        engine.dispose()
    assert report.problemas == [] and report.linhas_com_erro == [], report.as_dict()
    assert report.linhas_verificadas["cliente"] == 1


def test_inspect_finds_our_own_tables_and_its_draft_checks(runner: CliRunner, db_url: str, tmp_path: Path) -> None:
    """The built-in tables read like any ERP's: all entities and the items are found
    (`venda_itens` is not taken for the venda), keys are numbered by the database."""
    upgrade(db_url, local_tables=True)
    draft = tmp_path / "nosso.yaml"
    ents = _inspect(runner, db_url, draft)["mapa"]["entidades"]
    assert {k: v["tabela"] for k, v in ents.items()} == {
        "cliente": "clientes",
        "produto": "produtos",
        "venda": "vendas",
    }
    assert ents["venda"]["itens"]["tabela"] == "venda_itens" and ents["venda"]["itens"]["coluna_venda"] == "id_venda"
    assert ents["cliente"]["exclusao"] == {"modo": "data", "coluna": "deletado_em"}
    docs = {f: ents["cliente"]["campos"][f]["conversor"] for f in ("cpf", "cnpj")}
    assert docs == {"cpf": "cpf_digitos", "cnpj": "cnpj_digitos"}  # empty tables: by the columns' width
    r = runner.invoke(app, ["schema", "check", str(draft), "--url", db_url, "--json"])
    assert r.exit_code == 0, r.output
    assert not [a for a in json.loads(r.stdout)["avisos"] if "chave_primaria" in a]


def test_inspect_wires_a_numeric_cpfcnpj_and_its_fj_column_and_check_tells_exit_codes_apart(
    runner: CliRunner, db_url: str, tmp_path: Path
) -> None:
    """The ERP of issue #19: CPF or CNPJ in one BIGINT (`cli_cpfcnpj`) beside an F/J column.
    The draft maps both documents on it (`formato: numero`) and the F/J column as
    `tipo_pessoa`; `check` exits 0 when all converts, 1 listing rows that do not, 2 for a
    broken map, and warns when `cliente` maps no unique key."""
    engine = create_engine(db_url)
    auto = {"postgresql": "SERIAL PRIMARY KEY", "sqlite": "INTEGER PRIMARY KEY"}.get(
        db_url.split(":")[0].split("+")[0], "INT NOT NULL AUTO_INCREMENT PRIMARY KEY"
    )
    with engine.begin() as conn:
        conn.execute(
            text(
                f"CREATE TABLE tb_cli (cli_id {auto}, cli_nome VARCHAR(60) NOT NULL, cli_fone VARCHAR(20),"
                " cli_tipo CHAR(1), cli_cpfcnpj BIGINT)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO tb_cli (cli_nome, cli_tipo, cli_cpfcnpj) VALUES"
                " ('Ana', 'F', 11144477735), ('Banco', 'J', 191), ('Padaria', 'J', 6990590000123), ('Sem doc', 'F', 0)"
            )
        )
    engine.dispose()
    draft = tmp_path / "mapa.yaml"
    r = runner.invoke(app, ["schema", "inspect", "--url", db_url, "-o", str(draft), "--json"])
    assert r.exit_code == 0, r.output
    campos = json.loads(r.stdout)["mapa"]["entidades"]["cliente"]["campos"]
    for kind in ("cpf", "cnpj"):
        assert campos[kind]["coluna"] == "cli_cpfcnpj" and campos[kind]["conversor"] == "documento"
        assert campos[kind]["opcoes"]["tipo"] == kind and campos[kind]["opcoes"]["formato"] == "numero"
    assert campos["tipo_pessoa"]["coluna"] == "cli_tipo"
    smap = load_schema_map(draft)
    rows = {row["cli_id"]: smap.entidades["cliente"].row_to_canonical(row) for row in _tb_cli(db_url)}
    assert rows[2]["cnpj"] == "00000000000191" and rows[2]["cpf"] is None  # the J decides
    assert rows[4]["cpf"] is None and rows[4]["cnpj"] is None  # 0 = no document
    r = runner.invoke(app, ["schema", "check", str(draft), "--url", db_url])
    assert r.exit_code == 0, r.output

    _tb_cli_sql(db_url, "UPDATE tb_cli SET cli_cpfcnpj = 11144477700 WHERE cli_id = 1")  # bad check digit
    r = runner.invoke(app, ["schema", "check", str(draft), "--url", db_url])
    assert r.exit_code == 1 and "tb_cli chave 1" in r.stderr, r.output

    no_key = tmp_path / "sem-chave.yaml"
    no_key.write_text(
        "versao: 1\nentidades:\n  cliente:\n    tabela: tb_cli\n    chave_primaria: cli_id\n"
        "    loja: {fixa: 1}\n    campos:\n      nome: {coluna: cli_nome}\n",
        encoding="utf-8",
    )
    r = runner.invoke(app, ["schema", "check", str(no_key), "--url", db_url, "--json"])
    assert r.exit_code == 0, r.output
    assert any("chave única" in a for a in json.loads(r.stdout)["avisos"])

    broken = tmp_path / "quebrado.yaml"
    broken.write_text(no_key.read_text(encoding="utf-8").replace("cli_nome", "cli_nome_x"), encoding="utf-8")
    r = runner.invoke(app, ["schema", "check", str(broken), "--url", db_url])
    assert r.exit_code == 2 and "cli_nome_x" in r.stderr, r.output


def _tb_cli(url: str) -> list[dict[str, Any]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(text("SELECT * FROM tb_cli ORDER BY cli_id"))]
    finally:
        engine.dispose()


def _tb_cli_sql(url: str, statement: str) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text(statement))
    finally:
        engine.dispose()
