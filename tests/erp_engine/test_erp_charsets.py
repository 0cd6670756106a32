"""crmsync's own tables in an old ERP's database whose default charset is latin1 or
utf8mb3 (issue #19): the migrations make every `crm_*` table utf8mb4, hashes ASCII and ids
binary, whatever the default, also for an install made before (upgrade from 0003); the
ERP's own tables come out as they were. The end-to-end sync on these databases runs in the
other ERP tests (the `erp` fixture's legacy-charset kinds)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from erp_world import ddl_only
from legacy_schema import build_legacy_erp
from sqlalchemy import create_engine, text

from crmsync.db.schema import upgrade


def _collations(url: str) -> tuple[dict[str, str], dict[tuple[str, str], str]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            tables = {
                str(t): str(c)
                for t, c in conn.execute(
                    text(
                        "SELECT TABLE_NAME, TABLE_COLLATION FROM information_schema.TABLES"
                        " WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME LIKE 'crm\\_%'"
                    )
                )
            }
            columns = {
                (str(t), str(c)): str(k)
                for t, c, k in conn.execute(
                    text(
                        "SELECT TABLE_NAME, COLUMN_NAME, COLLATION_NAME FROM information_schema.COLUMNS"
                        " WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME LIKE 'crm\\_%' AND COLLATION_NAME IS NOT NULL"
                    )
                )
            }
    finally:
        engine.dispose()
    return tables, columns


@pytest.mark.mariadb
@pytest.mark.parametrize("kind", ["mariadb-latin1", "mariadb-utf8mb3"])
def test_own_tables_are_utf8mb4_with_exact_hashes_whatever_the_default(
    kind: str, erp_database: Callable[[str], str]
) -> None:
    url = erp_database(kind)
    build_legacy_erp(url)
    before = ddl_only(url)
    upgrade(url, "0003", local_tables=False)  # an install made before: the database's default
    tables, columns = _collations(url)
    assert not tables["crm_entity_links"].startswith("utf8mb4")
    upgrade(url)
    tables, columns = _collations(url)
    assert set(tables.values()) == {"utf8mb4_unicode_ci"}, tables
    assert columns[("crm_entity_links", "local_hash")] == "ascii_bin"
    assert columns[("crm_entity_links", "base_hash")] == "ascii_bin"
    assert columns[("crm_lojas", "api_key_hash")] == "ascii_bin"
    assert columns[("crm_entity_links", "external_id")] == "utf8mb4_bin"
    assert columns[("crm_sync_log", "mensagem")] == "utf8mb4_unicode_ci"
    assert ddl_only(url) == before
    engine = create_engine(url)
    try:
        with engine.begin() as conn:  # a CRM's text with a character latin1 has no room for
            conn.execute(
                text(
                    "INSERT INTO crm_lojas (nome, api_key_hash, api_key_prefix, ativo, cadastrado_em)"
                    " VALUES ('Loja ☕ Centro', 'h', 'p', 1, NOW())"
                )
            )
            assert conn.execute(text("SELECT nome FROM crm_lojas")).scalar_one() == "Loja ☕ Centro"
    finally:
        engine.dispose()
