"""`bulk_insert` stores exactly what SQLAlchemy's own Core INSERT stores: the same bytes in
the database (compared raw, below the type layer) and the same values read back, for every
column type the large pull writes (aware datetimes, dates, booleans, JSON, NULLs)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any, cast

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Table, insert, select, text

from crmsync.db.bulk import bulk_insert
from crmsync.db.local import Cliente, Loja
from crmsync.db.schema import create_schema
from crmsync.db.session import get_engine
from crmsync.db.sync import CrmSyncLog

CLIENTES = cast(Table, Cliente.__table__)
LOG = cast(Table, CrmSyncLog.__table__)

_chars = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")  # what PostgreSQL stores
_text = st.one_of(st.none(), st.text(_chars, max_size=12))
_stamp = st.datetimes(
    min_value=datetime(2000, 1, 1),
    max_value=datetime(2099, 1, 1),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=-3)), timezone(timedelta(hours=5))]),
)
_cliente = st.fixed_dictionaries(
    {
        "nome": st.text(_chars, min_size=1, max_size=20),
        "cpf": st.one_of(st.none(), st.from_regex(r"[0-9]{11}", fullmatch=True)),
        "email": _text,
        "data_nascimento": st.one_of(st.none(), st.dates(min_value=date(1900, 1, 1), max_value=date(2030, 1, 1))),
        "ativo": st.booleans(),
        "observacoes": _text,
        "modificado_em": _stamp,
    }
)
_log = st.fixed_dictionaries(
    {
        "direcao": st.sampled_from(["push", "pull"]),
        "operacao": st.sampled_from(["create", "update"]),
        "entity_type": st.just("cliente"),
        "entity_id": st.one_of(st.none(), st.integers(1, 10**6)),
        "external_id": _text,
        "status": st.just("sucesso"),
        "mensagem": _text,
        "duracao_ms": st.integers(0, 10**5),
        "diff": st.one_of(
            st.none(),
            st.dictionaries(
                st.text(_chars, max_size=5),
                st.one_of(st.none(), st.text(_chars, max_size=5), st.integers()),
                max_size=3,
            ),
        ),
        "criado_em": _stamp,
    }
)


def _raw(conn: Any, table: Table, ids: list[int]) -> list[tuple[Any, ...]]:
    rows = conn.exec_driver_sql(f"SELECT * FROM {table.name} WHERE id IN ({','.join(map(str, ids))}) ORDER BY id")
    return [tuple(r)[1:] for r in rows]  # without the id


def _typed(conn: Any, table: Table, ids: list[int]) -> list[tuple[Any, ...]]:
    rows = conn.execute(select(table).where(table.c.id.in_(ids)).order_by(table.c.id))
    return [tuple(r)[1:] for r in rows]


def _compare(conn: Any, table: Table, rows: list[dict[str, Any]], constants: dict[str, Any]) -> None:
    def inserted(write: Any) -> list[int]:
        before = conn.execute(text(f"SELECT COALESCE(MAX(id), 0) FROM {table.name}")).scalar_one()
        write()
        return [r[0] for r in conn.execute(text(f"SELECT id FROM {table.name} WHERE id > {before} ORDER BY id"))]

    core = inserted(lambda: conn.execute(insert(table), [{**constants, **row} for row in rows]))
    fast = inserted(lambda: bulk_insert(conn, table, rows, constants))
    assert len(core) == len(fast) == len(rows)
    assert _raw(conn, table, fast) == _raw(conn, table, core)
    assert _typed(conn, table, fast) == _typed(conn, table, core)


def test_bulk_insert_stores_what_core_stores(db_url: str) -> None:
    create_schema(db_url)
    engine = get_engine(db_url)
    with engine.begin() as conn:
        loja_id = conn.execute(
            insert(cast(Table, Loja.__table__)).values(
                nome="Loja", api_key_hash="h" * 64, api_key_prefix="crm_", ativo=True, cadastrado_em=datetime.now(UTC)
            )
        ).inserted_primary_key[0]

    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(clientes=st.lists(_cliente, min_size=1, max_size=5), logs=st.lists(_log, min_size=1, max_size=5), now=_stamp)
    def check(clientes: list[dict[str, Any]], logs: list[dict[str, Any]], now: datetime) -> None:
        with engine.begin() as conn:
            _compare(conn, CLIENTES, clientes, {"id_loja": loja_id, "cadastrado_em": now, "deletado_em": None})
            _compare(conn, LOG, logs, {"id_loja": loja_id, "id_integracao": None, "run_id": "r1", "tipo": "bulk"})

    check()
