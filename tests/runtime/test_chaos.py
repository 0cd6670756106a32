"""Chaos: records syncing through the sandbox with 10% faults while the worker process is
SIGKILLed at random moments and restarted, ten times in all. Afterwards both sides are equal,
there is no duplicate on either side, and no edit (local or remote) was lost.

The ten kills run as two independent halves of five (own sandbox, database, queue and seed),
so two xdist workers run them side by side: one run of ten kills was the suite's longest test
and sat alone at the end of the run. A killed worker's locks expire after the runtime tests'
4 s TTL, so no damage carries from one kill past the next few anyway.

`CRMSYNC_CHAOS_RECORDS` sets how many records the CRM starts with (default 300 so the test
fits the suite's time budget; the report run uses 2,000). `CRMSYNC_CHAOS_SEED` replays a run.
"""

from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from crmsync.db.local import Cliente
from crmsync.db.session import session_scope
from crmsync.db.sync import CrmEntityLink
from crmsync.db.types import utcnow
from crmsync.sandbox.server import SandboxServer
from runtime.conftest import Env, insert_clientes, make_tenant
from runtime.workers import WorkerProcess

RECORDS = int(os.environ.get("CRMSYNC_CHAOS_RECORDS", "300"))
KILLS = 10
HALVES = 2
KILLS_PER_RUN = KILLS // HALVES
# The workers' lock TTL. At the runtime tests' 4 s (renewed every 1.3 s) a heavily loaded run
# (6 xdist workers beside other suites) saw the worker lose its integration's turn by expiry
# and both halves stall (about 70 requests in 260 s, the pull never done); 8 s takes a 5 s
# starved heartbeat and still frees a killed worker's locks well within the settle time.
WORKER_ENV = {"CRMSYNC_LOCK_TTL_SECONDS": "8"}


def _links(integracao_id: int) -> dict[int, str]:
    with session_scope() as s:
        return {
            int(a): str(b)
            for a, b in s.execute(
                select(CrmEntityLink.entity_id, CrmEntityLink.external_id).where(
                    CrmEntityLink.id_integracao == integracao_id
                )
            ).all()
        }


def _state(sb: SandboxServer, loja_id: int, integracao_id: int) -> dict[str, Any]:
    with session_scope() as s:
        local = {
            r.id: (r.nome, (r.email or "").lower())
            for r in s.scalars(select(Cliente).where(Cliente.id_loja == loja_id, Cliente.deletado_em.is_(None)))
        }
    remote = {str(r["id"]): (r.get("nome"), (r.get("email") or "").lower()) for r in sb.panel_list("clientes")}
    links = _links(integracao_id)
    return {"local": local, "remote": remote, "links": links}


def _problems(st: dict[str, Any], local_edits: dict[int, str], remote_edits: dict[str, str]) -> list[str]:
    local, remote, links = st["local"], st["remote"], st["links"]
    out: list[str] = []
    if len(local) != len(remote):
        out.append(f"counts differ: local {len(local)} remote {len(remote)}")
    unlinked = [i for i in local if i not in links]
    if unlinked:
        out.append(f"{len(unlinked)} local rows not linked, e.g. {unlinked[:5]}")
    if len(set(links.values())) != len(links):
        out.append("an external id is linked twice")
    missing = [e for e in remote if e not in set(links.values())]
    if missing:
        out.append(f"{len(missing)} remote records not linked, e.g. {missing[:5]}")
    differ = [(i, local[i], remote.get(e)) for i, e in links.items() if i in local and local[i] != remote.get(e)]
    if differ:
        out.append(f"{len(differ)} linked pairs differ, e.g. {differ[:3]}")
    lost_local = [i for i, nome in local_edits.items() if remote.get(links.get(i, "?"), ("",))[0] != nome]
    if lost_local:
        out.append(f"local edits not in the CRM: {lost_local[:5]}")
    by_ext = {e: i for i, e in links.items()}
    lost_remote = [e for e, nome in remote_edits.items() if local.get(by_ext.get(e, -1), ("",))[0] != nome]
    if lost_remote:
        out.append(f"CRM edits not in the store: {lost_remote[:5]}")
    for side, rows in (("local", local), ("remote", remote)):
        emails = [em for _, em in rows.values() if em]
        if len(emails) != len(set(emails)):
            out.append(f"duplicate e-mails on the {side} side")
    return out


@pytest.mark.slow
@pytest.mark.parametrize("half", range(HALVES))
def test_chaos_sigkill_workers_with_faults_converges(rt_env: Env, tmp_path: Path, half: int) -> None:
    from crmsync.runtime.jobs import enqueue_pull, enqueue_push, enqueue_reconcile

    seed = int(os.environ.get("CRMSYNC_CHAOS_SEED", str(random.SystemRandom().randrange(1_000_000))))
    rnd = random.Random(seed)
    print(f"chaos seed {seed}, {RECORDS} records, half {half}: {KILLS_PER_RUN} kills")
    with SandboxServer(
        access_token="cx",
        secret_access_token="scx",
        fault_rate=0.10,
        slow_seconds=0.5,
        seed=seed % 1000,
        seed_records={"clientes": RECORDS},
        rate_limit=3,
    ) as sb:
        tenant = make_tenant(sb.base_url, access_token="cx", secret_access_token="scx")
        iid, loja = tenant.integracao_id, tenant.loja_id
        local_edits: dict[int, str] = {}
        remote_edits: dict[str, str] = {}
        # Rows that exist only in the store at the start (written straight into the database, as
        # the PHP ERP does): found by the reconcile, created in the CRM while workers die.
        local_ids = insert_clientes(
            loja, [(f"Loja {n}", f"loja{n}@chaos.example.com") for n in range(4 * KILLS_PER_RUN)]
        )
        remote_ids = [str(r["id"]) for r in sb.panel_list("clientes")]
        rnd.shuffle(local_ids)
        rnd.shuffle(remote_ids)
        worker = WorkerProcess({**rt_env.vars, **WORKER_ENV}, tmp_path, "chaos", concurrency=2).start()
        kills = 0
        started = time.monotonic()
        try:
            for rnd_no in range(KILLS_PER_RUN):
                mine = [local_ids.pop() for _ in range(3)]
                theirs = [remote_ids.pop() for _ in range(3)]
                with session_scope() as s:
                    now = utcnow()
                    for i in mine:  # the store's edits (as the API would, with its automatic push)
                        row = s.get(Cliente, i)
                        assert row is not None
                        row.nome = f"Loja R{rnd_no} C{i}"
                        row.modificado_em = now
                        local_edits[i] = row.nome
                    new = Cliente(
                        id_loja=loja,
                        nome=f"Nova R{rnd_no}",
                        email=f"nova{rnd_no}@chaos.example.com",
                        tipo_pessoa="PF",
                        cadastrado_em=now,
                        modificado_em=now,
                    )
                    s.add(new)
                    s.flush()
                    new_id = new.id
                for i in [*mine, new_id]:
                    enqueue_push(iid, "cliente", i)
                for ext in theirs:  # edits made in the CRM's own screens
                    nome = f"CRM R{rnd_no} E{ext}"
                    sb.panel_update("clientes", ext, {"nome": nome})
                    remote_edits[ext] = nome
                enqueue_pull(iid, "cliente", trigger="manual")
                time.sleep(rnd.uniform(1.5, 5.0))
                worker.kill()
                kills += 1
                worker = WorkerProcess({**rt_env.vars, **WORKER_ENV}, tmp_path, "chaos", concurrency=2).start()

            # Let it settle: a reconcile every 3 s until both sides agree (looked at twice a
            # second, so the test ends as soon as they do).
            deadline = time.monotonic() + max(240.0, RECORDS / 8)
            problems: list[str] = ["not checked"]
            next_reconcile = 0.0
            while time.monotonic() < deadline:
                if time.monotonic() >= next_reconcile:
                    enqueue_reconcile(iid, remote=True, trigger="manual")
                    next_reconcile = time.monotonic() + 3.0
                time.sleep(0.5)
                problems = _problems(_state(sb, loja, iid), local_edits, remote_edits)
                if not problems:
                    break
            elapsed = time.monotonic() - started
            stats = sb.stats()
            company = next(iter(stats["companies"].values()))
            summary = {
                "seed": seed,
                "records": RECORDS,
                "kills": kills,
                "seconds": round(elapsed, 1),
                "local_edits": len(local_edits),
                "remote_edits": len(remote_edits),
                "requests": stats["total_requests"],
                "faults": stats["faults"],
                "max_requests_in_any_1s_window": company["max_requests_in_any_1s_window"],
                "rate_limited": company["rate_limited"],
                "problems": problems,
            }
            print("CHAOS " + json.dumps(summary))
            (tmp_path / "chaos-summary.json").write_text(json.dumps(summary))
            assert kills == KILLS_PER_RUN
            # the seed in the message: the failure replays with CRMSYNC_CHAOS_SEED=<seed>
            assert not problems, (f"CRMSYNC_CHAOS_SEED={seed}", problems, worker.output()[-3000:])
            # The densest 1-second window is reported, not asserted here: under SIGKILLs on a loaded
            # 2-core machine the transport's 3% pacing slack can let a 4th request land in one
            # window (the two-worker test asserts the limit under normal load).
        finally:
            worker.kill()
