"""The two-database layout (issue #11): the legacy ERP's tables in its own database,
crmsync's `crm_*` tables in another (MariaDB + SQLite, PostgreSQL + PostgreSQL, two SQLite
files), end to end against the GestãoClick sandbox: push, pull, a conflict, deletes on
both sides, no duplicate, no echo, no lost edit, and nothing of crmsync in the ERP's
database. Then the commit order: the ERP first, so a crash before our commit converges."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from erp_world import Erp, attach, ddl_only, wait_for
from fastapi.testclient import TestClient
from sqlalchemy import event, inspect
from sqlalchemy.engine import Connection

from crmsync.api.app import create_app
from crmsync.crypto import hash_api_key
from crmsync.db.local import Loja
from crmsync.db.session import TwoDatabaseSession, dispose_engines, elsewhere, get_engine
from crmsync.engine.scan import scan_local
from crmsync.erp.table import active_schema
from crmsync.runtime.embedded import EmbeddedRuntime
from crmsync.runtime.queue import reset_queue
from crmsync.sandbox import SandboxServer
from crmsync.services.status import pending_push
from crmsync.settings import reset_settings_cache

LAYOUTS = {
    "mariadb+sqlite": ("mariadb", "sqlite"),
    "postgresql+postgresql": ("postgresql", "postgresql"),
    "sqlite+sqlite": ("sqlite", "sqlite"),
}


def _tables(url: str) -> set[str]:
    engine = get_engine(url)
    with engine.connect() as conn:
        return set(inspect(conn).get_table_names())


@pytest.fixture(params=list(LAYOUTS))
def erp2(
    request: pytest.FixtureRequest,
    fresh_database: Any,
    sandbox: SandboxServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Iterator[Erp]:
    erp_kind, our_kind = LAYOUTS[request.param]
    for kind in {erp_kind, our_kind} - {"sqlite"}:
        request.applymarker(getattr(pytest.mark, "postgres" if kind == "postgresql" else "mariadb"))
    erp_url, our_url = fresh_database(erp_kind), fresh_database(our_kind)
    world = attach(erp_url, sandbox, monkeypatch, tmp_path, ours=our_url)
    world.ours = our_url  # type: ignore[attr-defined]
    yield world
    world.close()
    dispose_engines()
    reset_settings_cache()


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def test_two_databases_sync_both_ways_with_nothing_of_crmsync_in_the_erps(erp2: Erp) -> None:
    erp = erp2
    erp_tables = _tables(erp.url)
    assert not {t for t in erp_tables if t.startswith("crm_")}
    assert "crm_entity_links" in _tables(erp.ours)  # type: ignore[attr-defined]
    with erp.sf() as s:
        assert isinstance(s, TwoDatabaseSession)
        assert elsewhere(s, active_schema().entity("cliente").table)  # the scans pair in Python
    ddl = ddl_only(erp.url)

    # push: converted rows reach the CRM, the two legacy rows that do not convert fail
    summary = erp.engine().push("cliente")
    assert summary.total >= 3
    assert len(erp.remote("clientes", "nome", "José da Conceição")) == 1
    assert sorted(f.entity_id for f in erp.failed("cliente")) == [4, 5]
    writes = erp.writes()
    erp.engine().push("cliente")  # no echo
    assert erp.writes() == writes

    # pull: created and edited in the CRM -> the ERP's own spelling, no duplicate
    erp.sb.panel_create("clientes", {"nome": "Ana Pull", "tipo_pessoa": "PF", "cpf": "39053344705"})
    jose = erp.remote("clientes", "nome", "José da Conceição")[0]
    erp.sb.panel_update("clientes", jose["id"], {**jose, "email": "jose.novo@example.com"})
    result = erp.engine().pull("cliente")
    assert result.success and result.total_criados == 1 and result.total_atualizados == 1, result.erros
    assert erp.one("SELECT cpf FROM cad_clientes WHERE razao = 'Ana Pull'").cpf == "390.533.447-05"
    assert erp.one("SELECT email FROM cad_clientes WHERE cod_cli = 1").email == "jose.novo@example.com"

    # an ERP edit with plain SQL -> pushed; then nothing echoes either way
    erp.sql("UPDATE cad_clientes SET fone = '(11) 3522-0000', dt_alteracao = :now WHERE cod_cli = 1", now=_now())
    with erp.sf() as s:
        integ_count, _oldest = pending_push(s, _integ(s, erp), "cliente")
    assert integ_count >= 1  # the status page sees it, across the two databases
    erp.engine().push("cliente")
    assert erp.sb.panel_get("clientes", jose["id"])["telefone"].replace(" ", "").endswith("3522-0000")
    writes = erp.writes()
    erp.engine().push("cliente")
    erp.engine().pull("cliente")
    assert erp.writes() == writes
    assert len(erp.remote("clientes", "nome", "Ana Pull")) == 1
    assert len(erp.all("SELECT cod_cli FROM cad_clientes WHERE razao = 'Ana Pull'")) == 1

    # a conflict: both sides edited the e-mail, manual strategy -> both kept
    erp.sb.panel_update("clientes", jose["id"], {**erp.sb.panel_get("clientes", jose["id"]), "email": "crm@x.com"})
    erp.sql("UPDATE cad_clientes SET email = 'erp@x.com', dt_alteracao = :now WHERE cod_cli = 1", now=_now())
    erp.set_config({"estrategia_padrao": "manual", "limite_exclusao_em_massa": 1.0})
    assert erp.engine().push("cliente").conflitos >= 1
    assert erp.one("SELECT email FROM cad_clientes WHERE cod_cli = 1").email == "erp@x.com"
    assert erp.sb.panel_get("clientes", jose["id"])["email"] == "crm@x.com"

    # deletes: hard-deleted by the ERP -> deactivated in the CRM; deleted in the CRM -> row gone
    padaria = erp.remote("clientes", "nome", "Padaria Pão Quente Ltda")[0]
    erp.sql("DELETE FROM cad_clientes WHERE cod_cli = 2")
    erp.engine().push("cliente")
    assert str(erp.sb.panel_get("clientes", padaria["id"]).get("ativo")) in ("0", "False", "false")
    link = erp.link("cliente", 2)
    assert link is not None and link.status == "desativado"
    maria = erp.remote("clientes", "nome", "Maria Inativa")[0]
    erp.sb.panel_delete("clientes", maria["id"])
    erp.engine().pull("cliente")
    assert erp.one("SELECT cod_cli FROM cad_clientes WHERE cod_cli = 3") is None

    # products (no modified column: full hash scan) and a pedido with its items
    assert erp.engine().push("produto").erros == 0
    erp.sql("UPDATE cad_produtos SET preco_venda = '5,49' WHERE cod_prod = 1")
    erp.engine().push("produto")
    acucar = erp.remote("produtos", "codigo_interno", "ACU-1")
    assert len(acucar) == 1 and "5.49" in str(acucar[0]["valor_venda"])
    summary = erp.engine().push("venda")
    assert summary.erros == 0, [r.message for r in summary.itens if not r.success]
    assert len(erp.sb.panel_list("vendas")) == 1
    writes = erp.writes()
    for entity in ("cliente", "produto", "venda"):
        erp.engine().push(entity)
    assert erp.writes() == writes

    # the ERP's database: the same tables and DDL as before, nothing of crmsync
    assert _tables(erp.url) == erp_tables
    assert ddl_only(erp.url) == ddl


def _integ(s: Any, erp: Erp) -> Any:
    from crmsync.db.sync import CrmIntegracao

    return s.get(CrmIntegracao, erp.integracao_id)


class _CrashAfterErpCommit:
    """The first commit of the ERP's database that carries a write arms a failure of our
    database's next commit: the crash between the two commits of one session."""

    def __init__(self, erp: Any, ours: Any) -> None:
        self.erp, self.ours = erp, ours
        self.wrote = self.armed = False
        self.fired = 0

    def __enter__(self) -> _CrashAfterErpCommit:
        event.listen(self.erp, "after_cursor_execute", self._executed)
        event.listen(self.erp, "commit", self._erp_commit)
        event.listen(self.erp, "rollback", self._erp_rollback)
        event.listen(self.ours, "commit", self._our_commit)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.erp, "after_cursor_execute", self._executed)
        event.remove(self.erp, "commit", self._erp_commit)
        event.remove(self.erp, "rollback", self._erp_rollback)
        event.remove(self.ours, "commit", self._our_commit)

    def _executed(self, conn: Connection, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith(("UPDATE", "INSERT", "DELETE")):
            self.wrote = True

    def _erp_commit(self, conn: Connection) -> None:
        if self.wrote and not self.fired:
            self.armed = True
        self.wrote = False

    def _erp_rollback(self, conn: Connection) -> None:
        self.wrote = False

    def _our_commit(self, conn: Connection) -> None:
        if self.armed:
            self.armed = False
            self.fired += 1
            raise RuntimeError("queda simulada entre os dois commits")


def test_a_crash_between_the_erps_commit_and_ours_converges_without_losing_an_edit(erp2: Erp) -> None:
    erp = erp2
    erp.engine().push("cliente")
    jose = erp.remote("clientes", "nome", "José da Conceição")[0]
    before = erp.link("cliente", 1)
    assert before is not None
    # the CRM edits José: the pull writes the ERP row, then our commit (the link) fails
    erp.sb.panel_update("clientes", jose["id"], {**jose, "email": "remoto@example.com"})
    with _CrashAfterErpCommit(get_engine(erp.url), get_engine(erp.ours)) as crash:  # type: ignore[attr-defined]
        with contextlib.suppress(RuntimeError):  # the crash may surface, or be reported by the run
            erp.engine().pull("cliente")
        assert crash.fired == 1
    # the ERP's half is committed; our link still says the old base
    assert erp.one("SELECT email FROM cad_clientes WHERE cod_cli = 1").email == "remoto@example.com"
    stale = erp.link("cliente", 1)
    assert (
        stale is not None
        and stale.base_snapshot.get("email") == before.base_snapshot.get("email") != "remoto@example.com"
    )
    # the next runs converge: the CRM keeps the remote edit, nothing duplicated
    erp.engine().push("cliente")
    erp.engine().pull("cliente")
    erp.engine().push("cliente")
    assert erp.sb.panel_get("clientes", jose["id"])["email"] == "remoto@example.com"
    assert erp.one("SELECT email FROM cad_clientes WHERE cod_cli = 1").email == "remoto@example.com"
    link = erp.link("cliente", 1)
    assert link is not None and link.external_id == before.external_id
    assert len(erp.remote("clientes", "nome", "José da Conceição")) == 1
    writes = erp.writes()
    erp.engine().push("cliente")
    erp.engine().pull("cliente")
    assert erp.writes() == writes


KEY = "crm_erp_two_db_api_key_0123456789abcdef"


def test_the_local_api_reads_and_writes_the_erps_rows_from_another_database(erp2: Erp) -> None:
    erp = erp2
    with erp.sf() as s, s.begin():
        loja = s.get(Loja, 1)
        assert loja is not None
        loja.api_key_hash = hash_api_key(KEY)
    with TestClient(create_app(), headers={"Authorization": f"Bearer {KEY}"}) as api:
        r = api.get("/api/clientes/1")
        assert r.status_code == 200, r.text
        assert r.json()["nome"] == "José da Conceição" and r.json()["cpf"] == "11144477735"
        listed = api.get("/api/clientes", params={"limit": 50})
        assert listed.status_code == 200 and [c["id"] for c in listed.json()["registros"]] == [1, 2, 3, 4, 5]
        r = api.post("/api/clientes", json={"nome": "Nova Pela API", "cpf": "39053344705", "email": "api@x.com"})
        assert r.status_code == 201, r.text
        new_id = r.json()["id"]
        assert erp.one("SELECT razao, cpf FROM cad_clientes WHERE cod_cli = :k", k=new_id) == (
            "Nova Pela API",
            "390.533.447-05",
        )
        assert api.post("/api/clientes", json={"nome": "Outra", "cpf": "390.533.447-05"}).status_code == 409
        r = api.put("/api/clientes/2", json={"email": "novo@paoquente.com.br"})
        assert r.status_code == 200, r.text
        assert erp.one("SELECT email FROM cad_clientes WHERE cod_cli = 2").email == "novo@paoquente.com.br"
        assert api.delete(f"/api/clientes/{new_id}").status_code == 200
        assert erp.one("SELECT cod_cli FROM cad_clientes WHERE cod_cli = :k", k=new_id) is None
        r = api.get("/api/crm/status")
        assert r.status_code == 200, r.text
    assert not {t for t in _tables(erp.url) if t.startswith("crm_")}


@pytest.mark.mariadb
def test_the_runtime_delivers_a_plain_sql_change_of_the_erp_in_another_database(
    fresh_database: Any, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fast = {
        "CRMSYNC_SCHEDULER_TICK_SECONDS": "0.3",
        "CRMSYNC_RETRY_BASE_SECONDS": "0.3",
        "CRMSYNC_RETRY_MAX_SECONDS": "2",
        "CRMSYNC_LOCK_TTL_SECONDS": "4",
        "CRMSYNC_PENDING_TTL_SECONDS": "4",
        "CRMSYNC_SHUTDOWN_TIMEOUT_SECONDS": "20",
        "CRMSYNC_LOG_LEVEL": "WARNING",
        "CRMSYNC_LOCAL_SWEEP_SECONDS": "1",
    }
    for key, value in fast.items():
        monkeypatch.setenv(key, value)
    erp = attach(fresh_database("mariadb"), sandbox, monkeypatch, tmp_path, ours=fresh_database("sqlite"))
    reset_queue()
    try:
        with EmbeddedRuntime(scheduler=True):
            wait_for(lambda: erp.remote("clientes", "nome", "José da Conceição"), what="first sweep")
            wait_for(lambda: erp.link("cliente", 1), what="first sweep committed")
            erp.sql(
                "INSERT INTO cad_clientes (razao, cpf, email, ativo, dt_alteracao)"
                " VALUES ('Nova Pelo PHP', '390.533.447-05', 'php@example.com', 'S', CURRENT_TIMESTAMP)"
            )
            wait_for(lambda: erp.remote("clientes", "email", "php@example.com"), what="insert pushed")
            erp.sql(
                "UPDATE cad_clientes SET fone = '(11) 3522-0000', dt_alteracao = CURRENT_TIMESTAMP WHERE cod_cli = 1"
            )
            wait_for(
                lambda: [
                    c
                    for c in erp.remote("clientes", "nome", "José da Conceição")
                    if str(c.get("telefone", "")).replace(" ", "").endswith("3522-0000")
                ],
                what="edit pushed",
            )
        assert len(erp.remote("clientes", "email", "php@example.com")) == 1
        assert not {t for t in _tables(erp.url) if t.startswith("crm_")}
    finally:
        erp.close()


def test_a_crash_after_a_pulled_insert_leaves_no_duplicate(erp2: Erp) -> None:
    erp = erp2
    erp.engine().push("cliente")
    erp.sb.panel_create("clientes", {"nome": "Ana Queda", "tipo_pessoa": "PF", "cpf": "39053344705"})
    with _CrashAfterErpCommit(get_engine(erp.url), get_engine(erp.ours)) as crash:  # type: ignore[attr-defined]
        with contextlib.suppress(RuntimeError):
            erp.engine().pull("cliente")
        assert crash.fired == 1
    rows = erp.all("SELECT cod_cli FROM cad_clientes WHERE razao = 'Ana Queda'")
    assert len(rows) == 1  # the ERP's half is there, without a link
    assert erp.link("cliente", int(rows[0].cod_cli)) is None
    for _ in range(2):
        erp.engine().pull("cliente")
        erp.engine().push("cliente")
    assert len(erp.all("SELECT cod_cli FROM cad_clientes WHERE razao = 'Ana Queda'")) == 1
    assert len(erp.remote("clientes", "nome", "Ana Queda")) == 1
    link = erp.link("cliente", int(rows[0].cod_cli))
    assert link is not None and link.status == "sincronizado"


def test_the_scans_across_two_databases_find_what_the_one_database_scan_finds(erp2: Erp) -> None:
    erp = erp2
    erp.engine().push("cliente")
    ent = active_schema().entity("cliente")
    old = datetime(2001, 1, 1)
    erp.sql("UPDATE cad_clientes SET obs = 'mudou sem carimbo', dt_alteracao = :old WHERE cod_cli = 1", old=old)
    erp.sql("DELETE FROM cad_clientes WHERE cod_cli = 2")
    erp.sql(
        "INSERT INTO cad_clientes (razao, cpf, ativo, dt_alteracao) VALUES ('Nova', '390.533.447-05', 'S', :now)",
        now=_now(),
    )
    new_id = erp.one("SELECT cod_cli FROM cad_clientes WHERE razao = 'Nova'").cod_cli
    since = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)

    def scan(**kw: Any) -> dict[int, str]:
        with erp.sf() as s:
            hits = scan_local(s, ent, id_loja=1, provider="gestao_click", batch=2, **kw)
            return {h.entity_id: h.kind for h in hits}

    full = scan()
    assert full[1] == "alterado" and full[2] == "sumiu" and full[new_id] == "novo"
    quick = scan(since=since, new_rows=True)  # the reconcile's watermark pass
    assert 1 not in quick and quick[2] == "sumiu" and quick[new_id] == "novo"
    assert 4 in quick and 5 in quick  # never linked (they do not convert): still found
    recent = scan(since=since)  # only rows stamped since; no vanished keys
    assert recent == {new_id: "novo"}
    assert scan(ids=[1, 2, 3]) == {1: "alterado", 2: "sumiu", 3: "igual"}
