"""Converters against real columns: a canonical value written through the converter into
the legacy column type and read back raw (as the driver returns it) is unchanged, on
SQLite, PostgreSQL and MariaDB; on a latin1 MariaDB table accents round-trip and a
character latin1 cannot hold is refused before MariaDB could turn it into '?'."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import MetaData, Table, column, create_engine, insert, select, table, text

from crmsync.erp.converters import ConversionError, get_converter

CASES: list[tuple[str, str, dict[str, Any], list[Any]]] = [
    # (column DDL, converter, options, canonical values)
    ("BIGINT", "cpf_numero", {}, ["00000000191", "01234567890", "52998224725"]),
    ("BIGINT", "cnpj_numero", {}, ["06990590000123", "00000000000191"]),
    ("CHAR(14)", "cpf_formatado", {}, ["00000000191", "52998224725"]),
    ("CHAR(18)", "cnpj_formatado", {}, ["06990590000123"]),
    ("VARCHAR(20)", "telefone", {}, ["+551135228899", "+5596991949455"]),
    ("CHAR(1)", "flag", {"verdadeiro": "S", "falso": "N"}, [True, False]),
    ("INTEGER", "flag", {"verdadeiro": 1, "falso": 0}, [True, False]),
    ("VARCHAR(20)", "dinheiro_virgula", {"milhar": True}, ["1234.5000", "0.9900", "-3.1000"]),
    ("NUMERIC(12,2)", "decimal", {"casas": 2}, ["1234.5000", "0.0100"]),
    ("DATE", "data", {}, ["2024-02-29", "1990-01-01"]),
    ("CHAR(9)", "cep", {"formato": "formatado"}, ["01310100"]),
    ("INTEGER", "cep", {"formato": "numero"}, ["01310100"]),
    ("CHAR(20)", "texto", {"largura": 20}, ["ABC-1", "Pão de queijo"]),
]


@pytest.mark.parametrize(("ddl", "name", "opcoes", "values"), CASES, ids=[f"{c[1]}-{c[0]}" for c in CASES])
def test_roundtrip_through_a_real_column(
    db_url: str, ddl: str, name: str, opcoes: dict[str, Any], values: list[Any]
) -> None:
    conv = get_converter(name, opcoes)
    engine = create_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(text(f"CREATE TABLE legado (id INTEGER PRIMARY KEY, valor {ddl})"))
        # Written through the reflected column type (as the engine writes), read back raw.
        typed = Table("legado", MetaData(), autoload_with=engine)
        tbl = table("legado", column("id"), column("valor"))
        with engine.begin() as conn:
            for i, value in enumerate(values):
                conn.execute(insert(typed).values(id=i, valor=conv.to_column(value)))
        with engine.connect() as conn:
            raw = [r[0] for r in conn.execute(select(tbl.c.valor).order_by(tbl.c.id))]
        assert [conv.to_canonical(v) for v in raw] == values, raw
    finally:
        engine.dispose()


def test_mariadb_zero_dates(fresh_database: Any) -> None:
    url = fresh_database("mariadb")
    engine = create_engine(url)
    conv = get_converter("data_zero")
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE legado (id INT PRIMARY KEY, dt DATE NOT NULL DEFAULT '0000-00-00')"))
            tbl = table("legado", column("id"), column("dt"))
            conn.execute(insert(tbl).values(id=1, dt=conv.to_column(None)))
            conn.execute(insert(tbl).values(id=2, dt=conv.to_column("2024-02-29")))
            conn.execute(text("INSERT INTO legado (id) VALUES (3)"))
        with engine.connect() as conn:
            raw = [r[0] for r in conn.execute(text("SELECT dt FROM legado ORDER BY id"))]
        assert raw[0] == "0000-00-00"  # what the driver gives for MySQL's zero date
        assert [conv.to_canonical(v) for v in raw] == [None, "2024-02-29", None]
    finally:
        engine.dispose()


def test_latin1_table_roundtrips_accents_and_refuses_the_rest(fresh_database: Any) -> None:
    url = fresh_database("mariadb")
    engine = create_engine(url)
    conv = get_converter("texto", {"charset": "latin1", "tamanho": 60})
    accents = "São João, açúcar, pão, Ñandú, º ª § € œ"
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE legado (id INT PRIMARY KEY, nome VARCHAR(60)) DEFAULT CHARSET=latin1"))
            conn.execute(text("INSERT INTO legado VALUES (1, :v)"), {"v": conv.to_column(accents)})
        with engine.connect() as conn:
            assert conv.to_canonical(conn.execute(text("SELECT nome FROM legado")).scalar_one()) == accents
            # The bytes on disk really are latin1 (cp1252 for €, œ): one byte per character.
            assert conn.execute(text("SELECT LENGTH(nome) = CHAR_LENGTH(nome) FROM legado")).scalar_one() == 1
        for outside in ("✓ ok", "日本", "emoji 😀", "Ω"):
            with pytest.raises(ConversionError, match="latin1"):
                conv.to_column(outside)
        # What the guard prevents: a non-strict session (common in PHP ERPs) stores '?'.
        with engine.begin() as conn:
            conn.execute(text("SET SESSION sql_mode = ''"))
            conn.execute(text("INSERT INTO legado VALUES (2, :v)"), {"v": "✓ ok"})
            assert conn.execute(text("SELECT nome FROM legado WHERE id = 2")).scalar_one() == "? ok"
    finally:
        engine.dispose()
