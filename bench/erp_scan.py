"""Change detection on an ERP's own table: a full hash scan with nothing changed, and the
latency from the ERP's write to the CRM with triggers.

    .venv/bin/python bench/erp_scan.py --db sqlite --rows 100000
    .venv/bin/python bench/erp_scan.py --db mariadb --rows 100000 --latency 60
    .venv/bin/python bench/erp_scan.py --db mariadb --ours sqlite --rows 100000   # two databases

1. Builds a legacy `cad_clientes` table (formatted CPF in CHAR(14), S/N flag, zero dates,
   no crmsync column) in a fresh database with plain SQL, beside crmsync's `crm_` tables,
   and links every row as if it had been synced (`local_hash` = the row's fingerprint).
2. Runs the full hash scan (`crmsync.engine.scan.scan_local`, what the reconcile's full
   pass runs) in a fresh child process, so its peak RSS is the scan's own: rows/s and MB.
   With `--ours KIND`, crmsync's `crm_` tables are in a second database of that kind
   (the two-database layout: pages of the ERP's table paired with the links in Python).
3. With `--latency N`: installs the triggers, starts the embedded runtime against the
   GestãoClick sandbox, writes N single-row UPDATEs with plain SQL (as the PHP would) and
   times each until the sandbox holds the new value: p50/p99 in seconds.

Targets (issue #11): >= 50,000 rows/s with peak RSS < 200 MB; p99 < 2 s.
Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, func, select, text

MAP = """
versao: 1
entidades:
  cliente:
    tabela: cad_clientes
    chave_primaria: cod_cli
    loja: {coluna: cod_empresa}
    exclusao: {modo: fisico}
    padroes_insercao: {tipo_cad: "C"}
    campos:
      nome: {coluna: razao}
      cpf: {coluna: cpf, conversor: cpf_formatado}
      email: {coluna: email, conversor: email}
      telefone: {coluna: fone, conversor: telefone}
      ativo: {coluna: ativo, conversor: flag, opcoes: {verdadeiro: "S", falso: "N"}}
      data_nascimento: {coluna: dt_nasc, conversor: data_zero}
      observacoes: {coluna: obs}
"""
PG_ADMIN = os.environ.get("CRMSYNC_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MARIA_ADMIN = os.environ.get("CRMSYNC_TEST_MARIA_URL", "mysql+pymysql://root@127.0.0.1:3306/test")
CREDS = {"access_token": "sandbox-access-token", "secret_access_token": "sandbox-secret-token"}


def _cpf(n: int) -> str:
    base = [int(d) for d in f"{n % 10**9:09d}"]
    for size in (9, 10):
        total = sum(d * w for d, w in zip(base, range(size + 1, 1, -1), strict=False))
        base.append((total * 10 % 11) % 10)
    s = "".join(map(str, base))
    return f"{s[:3]}.{s[3:6]}.{s[6:9]}-{s[9:]}"


def fresh_database(kind: str, workdir: Path) -> tuple[str, Any]:
    name = f"crmsync_bench_{uuid.uuid4().hex[:10]}"
    if kind == "sqlite":
        return f"sqlite:///{(workdir / (name + '.db')).as_posix()}", None
    admin = PG_ADMIN if kind == "postgresql" else MARIA_ADMIN
    eng = create_engine(admin, isolation_level="AUTOCOMMIT")
    with eng.connect() as conn:
        if kind == "postgresql":
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        else:
            conn.execute(text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
    eng.dispose()
    url = admin.rsplit("/", 1)[0] + "/" + name

    def drop() -> None:
        eng = create_engine(admin, isolation_level="AUTOCOMMIT")
        with eng.connect() as conn:
            if kind == "postgresql":
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            else:
                conn.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
        eng.dispose()

    return url, drop


def build(url: str, kind: str, rows: int) -> None:
    """The ERP's table, filled as its PHP would, then crmsync attached and every row linked."""
    auto = {
        "mariadb": "INT NOT NULL AUTO_INCREMENT PRIMARY KEY",
        "postgresql": "SERIAL PRIMARY KEY",
        "sqlite": "INTEGER PRIMARY KEY AUTOINCREMENT",
    }[kind]
    dt_nasc = "DATE NOT NULL DEFAULT '0000-00-00'" if kind == "mariadb" else "VARCHAR(10)"
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text(
                f"CREATE TABLE cad_clientes (cod_cli {auto}, cod_empresa INT NOT NULL DEFAULT 1,"
                " razao VARCHAR(120) NOT NULL, fantasia VARCHAR(60), cpf CHAR(14), email VARCHAR(100),"
                f" fone VARCHAR(20), ativo CHAR(1) NOT NULL DEFAULT 'S', dt_nasc {dt_nasc}, obs TEXT,"
                " tipo_cad CHAR(1) NOT NULL DEFAULT 'C')"
            )
        )
        insert = text(
            "INSERT INTO cad_clientes (razao, fantasia, cpf, email, fone, ativo, dt_nasc, obs)"
            " VALUES (:razao, :fantasia, :cpf, :email, :fone, :ativo, :dt_nasc, :obs)"
        )
        for start in range(0, rows, 5000):
            conn.execute(
                insert,
                [
                    {
                        "razao": f"Cliente Legado {i}",
                        "fantasia": None if i % 3 else f"Fantasia {i}",
                        "cpf": _cpf(i + 1000),
                        "email": f"cliente{i}@example.com",
                        "fone": f"(11) 9{i % 10000:04d}-{i % 9999:04d}",
                        "ativo": "S" if i % 10 else "N",
                        "dt_nasc": "0000-00-00" if i % 4 else "1980-02-03",
                        "obs": "cliente antigo" if i % 5 == 0 else None,
                    }
                    for i in range(start, min(rows, start + 5000))
                ],
            )
    # the statistics autovacuum would have by the time a reconcile runs: without them, right
    # after the load, PostgreSQL plans each keyset page of the two-database scan as a seq
    # scan + sort that fingerprints every row of the table (measured 27,000 rows/s vs 160,000)
    with engine.begin() as conn:
        conn.execute(text("ANALYZE cad_clientes" if kind != "mariadb" else "ANALYZE TABLE cad_clientes"))
    engine.dispose()


def attach(url: str, map_path: Path, workdir: Path, erp_url: str | None = None) -> int:
    """crmsync's `crm_` tables, one store (id 1 = the ERP's cod_empresa) and one integration;
    answers the integration id. ``erp_url``: the ERP's table is in that other database."""
    if erp_url:
        os.environ["CRMSYNC_ERP_DATABASE_URL"] = erp_url
    os.environ.update(
        {
            "CRMSYNC_DATA_DIR": str(workdir),
            "CRMSYNC_DATABASE_URL": url,
            "CRMSYNC_SCHEMA_MAP": str(map_path),
            "CRMSYNC_QUEUE_URL": f"sqlite:///{(workdir / 'queue.db').as_posix()}",
            "CRMSYNC_SECRET_KEY": "xJ7Ob0rNwrZ0Vq3r9mOe2jvV6lE4hN8XcZ1pQ5sT7uY=",
            "CRMSYNC_LOG_LEVEL": "WARNING",
        }
    )
    from crmsync.crypto import encrypt_json
    from crmsync.db.local import Loja
    from crmsync.db.schema import upgrade
    from crmsync.db.session import get_sessionmaker
    from crmsync.db.sync import CrmIntegracao
    from crmsync.settings import reset_settings_cache

    reset_settings_cache()
    upgrade(url, local_tables=False)
    with get_sessionmaker(url)() as s, s.begin():
        loja = Loja(nome="Matriz", api_key_hash=uuid.uuid4().hex, api_key_prefix="crm_")
        s.add(loja)
        s.flush()
        integ = CrmIntegracao(
            id_loja=loja.id,
            provider="gestao_click",
            ativo=True,
            base_url="http://127.0.0.1:1",
            credenciais=encrypt_json(CREDS),
            credenciais_hash="bench",
            config={"limite_exclusao_em_massa": 1.0},
            webhook_token=uuid.uuid4().hex,
        )
        s.add(integ)
        s.flush()
        return int(integ.id)


def link_all(url: str) -> int:
    """Link every row as a sync would have: `local_hash` = its fingerprint now."""
    from crmsync.db.bulk import bulk_insert
    from crmsync.db.session import get_sessionmaker
    from crmsync.db.sync import CrmEntityLink
    from crmsync.erp.table import active_schema

    ent = active_schema().entity("cliente")
    now = datetime.now(UTC)
    linked = 0
    with get_sessionmaker(url)() as s, s.begin():
        conn = s.connection()
        erp = s.connection(bind_arguments={"clause": ent.table})  # the same one with one database
        cols, server = ent.fingerprint_columns(erp.dialect.name)
        batch: list[dict[str, Any]] = []
        for row in erp.execute(select(ent.table.c.id, *cols).order_by(ent.table.c.id)).all():
            fingerprint = ent.fingerprint_of(row[1:], None, server=server)
            batch.append({"entity_id": int(row[0]), "external_id": f"x{row[0]}", "local_hash": fingerprint})
        for start in range(0, len(batch), 5000):
            bulk_insert(
                conn,
                CrmEntityLink.__table__,  # type: ignore[arg-type]
                batch[start : start + 5000],
                {
                    "id_loja": 1,
                    "id_integracao": 1,
                    "provider": "gestao_click",
                    "entity_type": "cliente",
                    "status": "sincronizado",
                    "base_snapshot": {},
                    "base_hash": "",
                    "sincronizado_em": now,
                    "cadastrado_em": now,
                },
            )
        linked = len(batch)
    return linked


def _peak_rss_mb() -> float:
    """This process's own peak RSS (VmHWM): ru_maxrss of a spawned child starts at its
    parent's size, which here holds the 100,000 rows it just built."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def scan_child(url: str) -> None:
    """Run in a fresh process: the full hash scan, timed, with this process's peak RSS."""
    from crmsync.db.session import get_sessionmaker
    from crmsync.engine.scan import scan_local
    from crmsync.erp.table import active_schema

    ent = active_schema().entity("cliente")
    sf = get_sessionmaker(url)
    with sf() as s:  # warm the connection and the statement cache
        s.execute(select(ent.table.c.id).limit(1)).all()
    started = time.perf_counter()
    rows = 0
    hits = 0
    with sf() as s:
        for _hit in scan_local(s, ent, id_loja=1, provider="gestao_click", batch=5000):
            hits += 1
        rows = int(s.execute(select(func.count()).select_from(ent.table)).scalar_one())
    elapsed = time.perf_counter() - started
    peak_mb = _peak_rss_mb()
    print(json.dumps({"rows": rows, "changed": hits, "seconds": elapsed, "peak_rss_mb": peak_mb}))


def wait_for_settled_links(url: str, deadline: float) -> None:
    """Until every link has a base (the runtime's first pushes are done) or `deadline`
    (monotonic): timing a change before that would time the start-up too."""
    from crmsync.db.session import get_sessionmaker
    from crmsync.db.sync import CrmEntityLink

    while time.monotonic() < deadline:
        with get_sessionmaker(url)() as s:
            unsettled = s.scalar(
                select(func.count()).select_from(CrmEntityLink).where(CrmEntityLink.local_hash.is_(None))
            )
        if not unsettled:
            return
        time.sleep(0.2)


def latency(url: str, integracao_id: int, samples: int) -> dict[str, float]:
    """p50/p99 seconds from a plain-SQL UPDATE to the sandbox holding it, with triggers."""
    from crmsync.db.session import get_sessionmaker
    from crmsync.db.sync import CrmIntegracao
    from crmsync.erp.schema_map import load_schema_map
    from crmsync.erp.triggers import install_triggers
    from crmsync.runtime.embedded import EmbeddedRuntime
    from crmsync.sandbox import SandboxServer
    from crmsync.settings import get_settings, reset_settings_cache

    os.environ.update({"CRMSYNC_LOCAL_SWEEP_SECONDS": "3600", "CRMSYNC_SCHEDULER_TICK_SECONDS": "0.5"})
    # the scan is measured: keep only the rows sampled here, so the runtime's first sweep
    # and pull do not spend the run on the 100,000 rows linked to records the sandbox lacks
    with create_engine(url).begin() as conn:
        conn.execute(text("DELETE FROM cad_clientes WHERE cod_cli > :n"), {"n": samples})
        conn.execute(text("DELETE FROM crm_entity_links WHERE entity_id > :n"), {"n": samples})
    reset_settings_cache()
    engine = create_engine(url)
    with SandboxServer(rate_limit=0, daily_quota=0) as sb:
        with get_sessionmaker(url)() as s, s.begin():
            integ = s.get(CrmIntegracao, integracao_id)
            assert integ is not None
            integ.base_url = sb.base_url
        # the linked rows of the bench exist in the sandbox: their records are created there
        from crmsync.db.sync import CrmEntityLink

        with get_sessionmaker(url)() as s, s.begin():
            for link in s.scalars(select(CrmEntityLink).where(CrmEntityLink.entity_id <= samples)):
                with engine.connect() as conn:
                    row = conn.execute(
                        text("SELECT razao, email FROM cad_clientes WHERE cod_cli = :k"), {"k": link.entity_id}
                    ).one()
                rec = sb.panel_create("clientes", {"nome": row.razao, "tipo_pessoa": "PF", "email": row.email})
                link.external_id = str(rec["id"])
                link.local_hash = None  # let the first push settle the base
        install_triggers(load_schema_map(get_settings().schema_map), engine)
        times: list[float] = []
        with EmbeddedRuntime(scheduler=True):
            deadline = time.monotonic() + 300  # the first sweep settles every sampled link first
            wait_for_settled_links(url, deadline)
            for k in range(1, samples + 1):
                with get_sessionmaker(url)() as s:
                    ext = s.scalar(select(CrmEntityLink.external_id).where(CrmEntityLink.entity_id == k))
                email = f"novo{k}.{uuid.uuid4().hex[:6]}@example.com"
                started = time.perf_counter()
                with engine.begin() as conn:
                    conn.execute(text("UPDATE cad_clientes SET email = :e WHERE cod_cli = :k"), {"e": email, "k": k})
                deadline = started + 30
                while time.perf_counter() < deadline:
                    if sb.panel_get("clientes", ext).get("email") == email:
                        break
                    time.sleep(0.005)
                times.append(time.perf_counter() - started)
    engine.dispose()
    times.sort()
    return {
        "samples": len(times),
        "over_2s": float(sum(1 for t in times if t >= 2.0)),
        "p50_s": times[len(times) // 2],
        "p99_s": times[min(len(times) - 1, int(len(times) * 0.99))],
        "max_s": times[-1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=["sqlite", "mariadb", "postgresql"], default="sqlite")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--latency", type=int, default=0, help="samples of the trigger latency (0: skip)")
    parser.add_argument("--ours", choices=["sqlite", "mariadb", "postgresql"], help="crm_ tables in another database")
    parser.add_argument("--scan-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.ours and args.latency:
        parser.error("--latency mede só o layout de um banco")
    if args.scan_child:
        scan_child(args.scan_child)
        return
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        map_path = workdir / "map.yaml"
        map_path.write_text(MAP)
        url, drop = fresh_database(args.db, workdir)
        ours, drop_ours = fresh_database(args.ours, workdir) if args.ours else (url, None)
        try:
            t0 = time.perf_counter()
            build(url, args.db, args.rows)
            integracao_id = attach(ours, map_path, workdir, erp_url=url if args.ours else None)
            linked = link_all(ours)
            print(f"built {args.rows} rows and {linked} links in {time.perf_counter() - t0:.1f}s")
            out = subprocess.run(
                [sys.executable, __file__, "--scan-child", ours],
                env=dict(os.environ),
                capture_output=True,
                text=True,
                check=True,
            )
            scan = json.loads(out.stdout.strip().splitlines()[-1])
            rate = scan["rows"] / scan["seconds"]
            print(
                f"full hash scan ({args.db}): {scan['rows']} rows, {scan['changed']} changed, "
                f"{scan['seconds']:.2f}s = {rate:,.0f} rows/s, peak RSS {scan['peak_rss_mb']:.0f} MB"
            )
            result: dict[str, Any] = {
                "bench": "erp_scan",
                "db": args.db,
                "ours": args.ours or args.db,
                "rows": scan["rows"],
                "changed": scan["changed"],
                "scan_seconds": round(scan["seconds"], 3),
                "rows_per_s": round(rate),
                "peak_rss_mb": round(scan["peak_rss_mb"], 1),
                "target_met": rate >= 50_000 and scan["peak_rss_mb"] < 200 and scan["changed"] == 0,
            }
            if args.latency:
                lat = latency(url, integracao_id, args.latency)
                print(f"trigger latency: p50 {lat['p50_s']:.3f}s, p99 {lat['p99_s']:.3f}s, max {lat['max_s']:.3f}s")
                result.update({f"latency_{k}": round(v, 3) for k, v in lat.items()})
                result["latency_target_met"] = lat["p99_s"] < 2.0
        finally:
            from crmsync.db.session import dispose_engines

            dispose_engines()
            if drop is not None:
                drop()
            if drop_ours is not None:
                drop_ours()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
