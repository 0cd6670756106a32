"""A legacy, PHP-style ERP schema built with plain SQL (not our models, not our names), and
a snapshot of its DDL to prove crmsync never changed it.

Unlike ours: other table and column names; CPF formatted in a CHAR(14) and CNPJ as a
BIGINT that lost its leading zeros; S/N and A/I flags; MySQL zero dates; money as
decimal-comma text; a latin1 table on MariaDB; hard deletes; a table without a modified
column; and ERP tables that are named like ours (`clientes`, `produtos`, `lojas`), with
their own columns, which crmsync must never create, alter or drop.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Engine, create_engine, inspect, text

#: the ERP's tables (every one must come out of anything crmsync does unchanged).
ERP_TABLES = (
    "lojas",
    "clientes",
    "produtos",
    "cad_clientes",
    "cad_produtos",
    "pedidos",
    "pedidos_itens",
    "alembic_version",  # the ERP's own, as if it used Alembic too: never ours to touch
)


def _ddl(kind: str) -> list[str]:
    auto = {
        "mariadb": "INT NOT NULL AUTO_INCREMENT PRIMARY KEY",
        "postgresql": "SERIAL PRIMARY KEY",
        "sqlite": "INTEGER PRIMARY KEY AUTOINCREMENT",
    }[kind]
    dt = "TIMESTAMP" if kind == "postgresql" else "DATETIME"
    latin1 = " DEFAULT CHARSET=latin1" if kind == "mariadb" else ""
    innodb = " ENGINE=InnoDB" if kind == "mariadb" else ""
    # MySQL's zero date only exists on MariaDB/MySQL; elsewhere the PHP kept it as text.
    zero_date_col = (
        "DATE NOT NULL DEFAULT '0000-00-00'" if kind == "mariadb" else "VARCHAR(10) NOT NULL DEFAULT '0000-00-00'"
    )
    return [
        "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)",
        f"CREATE TABLE lojas (cod_loja {auto}, nome_loja VARCHAR(60) NOT NULL, cnpj_loja VARCHAR(18)){innodb}",
        f"CREATE TABLE clientes (id {auto}, nome VARCHAR(80), id_loja INT, fone VARCHAR(20)){innodb}",
        f"CREATE TABLE produtos (id {auto}, descricao VARCHAR(80), preco NUMERIC(10,2)){innodb}{latin1}",
        f"""CREATE TABLE cad_clientes (
            cod_cli {auto},
            cod_empresa INT NOT NULL DEFAULT 1,
            razao VARCHAR(120) NOT NULL,
            fantasia VARCHAR(60),
            cpf CHAR(14),
            cnpj BIGINT,
            email VARCHAR(100),
            fone VARCHAR(20),
            celular VARCHAR(20),
            cep CHAR(9),
            ativo CHAR(1) NOT NULL DEFAULT 'S',
            dt_nasc {zero_date_col},
            obs TEXT,
            tipo_cad CHAR(1) NOT NULL DEFAULT 'C',
            dt_alteracao {dt}
        ){innodb}""",
        "CREATE INDEX idx_cad_clientes_cpf ON cad_clientes (cpf)",
        f"""CREATE TABLE cad_produtos (
            cod_prod {auto},
            descricao VARCHAR(100) NOT NULL,
            referencia CHAR(20),
            preco_venda VARCHAR(20) NOT NULL DEFAULT '0,00',
            situacao CHAR(1) NOT NULL DEFAULT 'A',
            unidade CHAR(3)
        ){innodb}{latin1}""",
        f"""CREATE TABLE pedidos (
            num_ped {auto},
            cod_cli INT NOT NULL REFERENCES cad_clientes (cod_cli),
            dt_ped {zero_date_col},
            total NUMERIC(12,2) NOT NULL DEFAULT 0,
            status_ped CHAR(2)
        ){innodb}""",
        f"""CREATE TABLE pedidos_itens (
            id_item {auto},
            num_ped INT NOT NULL REFERENCES pedidos (num_ped),
            cod_prod INT NOT NULL REFERENCES cad_produtos (cod_prod),
            qtd NUMERIC(12,3) NOT NULL,
            unitario NUMERIC(12,2) NOT NULL
        ){innodb}""",
    ]


def _rows(kind: str) -> list[str]:
    return [
        "INSERT INTO alembic_version (version_num) VALUES ('erp_9f3a')",
        "INSERT INTO lojas (nome_loja, cnpj_loja) VALUES ('Matriz', '11.222.333/0001-81')",
        "INSERT INTO clientes (nome, id_loja, fone) VALUES ('tabela antiga do ERP', 1, '1133334444')",
        "INSERT INTO produtos (descricao, preco) VALUES ('Café torrado', 12.50)",
        # Formatted CPF, CNPJ as a number that lost its leading zero, zero date.
        "INSERT INTO cad_clientes"
        " (razao, fantasia, cpf, cnpj, email, fone, celular, cep, ativo, dt_nasc, obs, dt_alteracao)"
        " VALUES ('José da Conceição', NULL, '111.444.777-35', NULL, 'jose@example.com', '(11) 3522-8899',"
        " '(11) 99194-9455', '01310-100', 'S', '0000-00-00', 'cliente antigo', '2024-01-02 10:00:00')",
        "INSERT INTO cad_clientes (razao, fantasia, cpf, cnpj, email, fone, ativo, dt_nasc)"
        " VALUES ('Padaria Pão Quente Ltda', 'Pão Quente', NULL, 6990590000123, 'contato@paoquente.com.br',"
        " '11 3000-1000', 'S', '1990-05-17')",
        "INSERT INTO cad_clientes (razao, cpf, ativo, dt_nasc)"
        " VALUES ('Maria Inativa', '529.982.247-25', 'N', '0000-00-00')",
        # Rows that will not convert: a CPF with a wrong check digit, an empty name.
        "INSERT INTO cad_clientes (razao, cpf, ativo) VALUES ('CPF Errado', '111.444.777-00', 'S')",
        "INSERT INTO cad_clientes (razao, cpf, ativo) VALUES ('   ', NULL, 'S')",
        "INSERT INTO cad_produtos (descricao, referencia, preco_venda, situacao, unidade)"
        " VALUES ('Açúcar cristal 1kg', 'ACU-1', '4,99', 'A', 'UN')",
        "INSERT INTO cad_produtos (descricao, referencia, preco_venda, situacao, unidade)"
        " VALUES ('Feijão carioca 1kg', 'FEI-1', '1.234,50', 'I', 'UN')",
        "INSERT INTO pedidos (cod_cli, dt_ped, total, status_ped) VALUES (1, '2024-03-04', 9.98, 'AB')",
        "INSERT INTO pedidos_itens (num_ped, cod_prod, qtd, unitario) VALUES (1, 1, 2, 4.99)",
    ]


def run_sql(engine: Engine, *statements: str) -> None:
    """Each statement, in one transaction, with `:t` bound to true (each dialect spells it its own way)."""
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement), {"t": True})


def build_legacy_erp(url: str, schema: str | None = None) -> None:
    """Create and fill the legacy schema with plain SQL, as the PHP ERP would have (in a
    PostgreSQL `schema` of its own when given)."""
    kind = _kind(url)
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            if schema is not None:
                conn.execute(text(f"CREATE SCHEMA {schema}"))
                conn.execute(text(f"SET LOCAL search_path TO {schema}"))
            for stmt in _ddl(kind) + _rows(kind):
                conn.execute(text(stmt))
    finally:
        engine.dispose()


def _kind(url: str) -> str:
    if url.startswith("sqlite"):
        return "sqlite"
    if url.startswith("postgresql"):
        return "postgresql"
    return "mariadb"


def erp_ddl(url: str, tables: tuple[str, ...] = ERP_TABLES, schema: str | None = None) -> dict[str, Any]:
    """Everything about the ERP's tables that a migration or a trigger could change: the
    server's own DDL text where it has one, columns, keys, indexes, triggers, and the rows."""
    kind = _kind(url)
    engine = create_engine(url)
    out: dict[str, Any] = {}
    try:
        insp = inspect(engine)
        with engine.connect() as conn:
            for table in tables:
                qualified = f"{schema}.{table}" if schema else table
                snap: dict[str, Any] = {
                    "columns": [
                        (c["name"], str(c["type"]), c["nullable"], str(c.get("default")))
                        for c in insp.get_columns(table, schema=schema)
                    ],
                    "pk": insp.get_pk_constraint(table, schema=schema),
                    "fks": insp.get_foreign_keys(table, schema=schema),
                    "indexes": sorted(insp.get_indexes(table, schema=schema), key=lambda i: str(i["name"])),
                    "rows": [tuple(r) for r in conn.execute(text(f"SELECT * FROM {qualified} ORDER BY 1"))],
                }
                if kind == "mariadb":
                    create = conn.execute(text(f"SHOW CREATE TABLE `{table}`")).one()[1]
                    snap["ddl"] = _strip_auto_increment(create)
                    snap["triggers"] = sorted(
                        conn.execute(
                            text(
                                "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS"
                                " WHERE EVENT_OBJECT_SCHEMA = DATABASE() AND EVENT_OBJECT_TABLE = :t"
                            ),
                            {"t": table},
                        ).scalars()
                    )
                elif kind == "postgresql":
                    snap["constraints"] = sorted(
                        tuple(r)
                        for r in conn.execute(
                            text(
                                "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
                                " WHERE conrelid = :t ::regclass"
                            ),
                            {"t": qualified},
                        )
                    )
                    snap["indexdefs"] = sorted(
                        conn.execute(
                            text("SELECT indexdef FROM pg_indexes WHERE tablename = :t AND schemaname = :s"),
                            {"t": table, "s": schema or "public"},
                        ).scalars()
                    )
                    snap["triggers"] = sorted(
                        conn.execute(
                            text("SELECT tgname FROM pg_trigger WHERE tgrelid = :t ::regclass AND NOT tgisinternal"),
                            {"t": qualified},
                        ).scalars()
                    )
                else:
                    snap["ddl"] = sorted(
                        tuple(r)
                        for r in conn.execute(
                            text("SELECT type, name, sql FROM sqlite_master WHERE tbl_name = :t"), {"t": table}
                        )
                    )
                out[table] = snap
    finally:
        engine.dispose()
    return out


def _strip_auto_increment(ddl: str) -> str:
    """The AUTO_INCREMENT counter moves with inserts; it is not DDL a migration changes."""
    return re.sub(r" AUTO_INCREMENT=\d+", "", ddl)


#: A reviewed map of the legacy schema (what a person makes of the inspect draft).
LEGACY_MAP = """
versao: 1
entidades:
  cliente:
    tabela: cad_clientes
    chave_primaria: cod_cli
    loja: {coluna: cod_empresa}
    modificado_em: dt_alteracao
    exclusao: {modo: fisico}
    padroes_insercao: {tipo_cad: "C"}
    campos:
      nome: {coluna: razao, opcoes: {tamanho: 120}}
      cpf: {coluna: cpf, conversor: cpf_formatado}
      cnpj: {coluna: cnpj, conversor: cnpj_numero}
      email: {coluna: email, conversor: email, opcoes: {tamanho: 100}}
      telefone: {coluna: fone, conversor: telefone}
      celular: {coluna: celular, conversor: telefone}
      cep: {coluna: cep, conversor: cep, opcoes: {formato: formatado}}
      ativo: {coluna: ativo, conversor: flag, opcoes: {verdadeiro: "S", falso: "N"}}
      data_nascimento: {coluna: dt_nasc, conversor: data_zero}
      observacoes: {coluna: obs, somente_leitura: true}
  produto:
    tabela: cad_produtos
    chave_primaria: cod_prod
    loja: {fixa: 1}
    campos:
      nome: {coluna: descricao, opcoes: {tamanho: 100, charset: latin1}}
      codigo: {coluna: referencia, opcoes: {largura: 20, charset: latin1}}
      valor_venda: {coluna: preco_venda, conversor: dinheiro_virgula, opcoes: {milhar: true}}
      ativo: {coluna: situacao, conversor: flag, opcoes: {verdadeiro: "A", falso: "I"}}
      unidade: {coluna: unidade, opcoes: {largura: 3, charset: latin1}}
  venda:
    tabela: pedidos
    chave_primaria: num_ped
    loja: {fixa: 1}
    campos:
      cliente_id: {coluna: cod_cli, conversor: inteiro}
      data: {coluna: dt_ped, conversor: data_zero}
      valor_total: {coluna: total, conversor: decimal, opcoes: {casas: 2}}
      situacao: {coluna: status_ped}
    itens:
      tabela: pedidos_itens
      chave_primaria: id_item
      coluna_venda: num_ped
      campos:
        produto_id: {coluna: cod_prod, conversor: inteiro}
        quantidade: {coluna: qtd, conversor: decimal, opcoes: {casas: 3}}
        valor_unitario: {coluna: unitario, conversor: decimal, opcoes: {casas: 2}}
"""
