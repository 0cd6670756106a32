"""The ERP writes as its own database role, which owns nothing of crmsync's and has no
privilege on any `crm_*` table (issue #19): with crmsync's triggers installed its INSERT,
UPDATE and DELETE still succeed (the trigger writes the outbox with crmsync's privileges:
SECURITY DEFINER on PostgreSQL, the trigger's DEFINER on MariaDB), the changes are in the
outbox, and a push takes them to the CRM. `triggers install --papel-erp` and `triggers
status` test a rolled-back write as that role."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from erp_world import MAP_PATH, MARIA_ADMIN_URL, Erp, attach, mark_server
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from crmsync.cli import app
from crmsync.db.session import dispose_engines
from crmsync.sandbox import SandboxServer
from crmsync.settings import reset_settings_cache

ERP_TABLES = ("cad_clientes", "cad_produtos", "pedidos", "pedidos_itens")


@pytest.fixture(params=["postgresql", "mariadb"])
def erp_as_role(
    request: pytest.FixtureRequest,
    erp_database: Callable[[str], str],
    sandbox: SandboxServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Iterator[tuple[Erp, str, str]]:
    """(the attached ERP, the ERP role's name, a URL connecting as that role)."""
    mark_server(request, request.param)
    erp = attach(erp_database(request.param), sandbox, monkeypatch, tmp_path)
    role = f"crm_erp_t_{uuid.uuid4().hex[:10]}"
    admin = create_engine(erp.url, isolation_level="AUTOCOMMIT")
    database = make_url(erp.url).database
    with admin.connect() as conn:
        if request.param == "postgresql":
            conn.execute(text(f'CREATE ROLE "{role}" LOGIN'))
            conn.execute(text(f'GRANT USAGE ON SCHEMA public TO "{role}"'))
            for table in ERP_TABLES:
                conn.execute(text(f'GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO "{role}"'))
            for (sequence,) in conn.execute(
                text("SELECT sequencename FROM pg_sequences WHERE sequencename NOT LIKE 'crm%'")
            ):
                conn.execute(text(f'GRANT USAGE ON SEQUENCE "{sequence}" TO "{role}"'))
        else:
            conn.execute(text(f"CREATE USER '{role}'@'%'"))
            for table in ERP_TABLES:
                conn.execute(text(f"GRANT SELECT, INSERT, UPDATE, DELETE ON `{database}`.`{table}` TO '{role}'@'%'"))
    role_url = make_url(erp.url).set(username=role, password=None).render_as_string(hide_password=False)
    try:
        yield erp, role, role_url
    finally:
        erp.close()
        dispose_engines()
        reset_settings_cache()
        if request.param == "postgresql":
            with admin.connect() as conn:
                conn.execute(text(f'DROP OWNED BY "{role}"'))
                conn.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
        else:
            with create_engine(MARIA_ADMIN_URL, isolation_level="AUTOCOMMIT").connect() as conn:
                conn.execute(text(f"DROP USER IF EXISTS '{role}'@'%'"))
        admin.dispose()


def test_the_erps_own_role_keeps_writing_with_triggers_and_its_changes_reach_the_crm(
    erp_as_role: tuple[Erp, str, str],
) -> None:
    erp, role, role_url = erp_as_role
    erp.engine().push("cliente")
    padaria = erp.remote("clientes", "nome", "Padaria Pão Quente Ltda")[0]
    runner = CliRunner()
    url = ["--url", erp.url, "--papel-erp", role]
    r = runner.invoke(app, ["schema", "triggers", "install", str(MAP_PATH), *url, "--json"])
    assert r.exit_code == 0, r.output
    probes = json.loads(r.stdout)["teste_escrita"]
    assert {p["tabela"] for p in probes if p["ok"]} >= {"cad_clientes", "cad_produtos"}, probes
    assert not [p for p in probes if p["ok"] is False]

    as_erp = create_engine(role_url)
    try:
        with as_erp.begin() as conn:  # the ERP's PHP, as its own role
            conn.execute(
                text(
                    "INSERT INTO cad_clientes (razao, cpf, email, ativo, dt_alteracao)"
                    " VALUES ('Cliente do Papel', '390.533.447-05', 'papel@example.com', 'S', CURRENT_TIMESTAMP)"
                )
            )
        with as_erp.begin() as conn:
            conn.execute(text("UPDATE cad_clientes SET email = 'jose.papel@example.com' WHERE cod_cli = 1"))
        with as_erp.begin() as conn:
            conn.execute(text("DELETE FROM cad_clientes WHERE cod_cli = 2"))
        with as_erp.connect() as conn, pytest.raises(Exception, match=r"(?i)denied"):
            conn.execute(text("SELECT count(*) FROM crm_erp_outbox"))
    finally:
        as_erp.dispose()
    assert {(r.chave, r.operacao) for r in erp.all("SELECT chave, operacao FROM crm_erp_outbox")} >= {
        ("6", "I"),
        ("1", "U"),
        ("2", "D"),
    }

    erp.engine().push("cliente")
    assert erp.remote("clientes", "email", "papel@example.com")
    assert erp.remote("clientes", "email", "jose.papel@example.com")
    assert str(erp.sb.panel_get("clientes", padaria["id"]).get("ativo")) in ("0", "False", "false")

    r = runner.invoke(app, ["schema", "triggers", "status", str(MAP_PATH), *url, "--json"])
    assert r.exit_code == 0, r.output
    assert all(p["ok"] is not False for p in json.loads(r.stdout)["teste_escrita"])
