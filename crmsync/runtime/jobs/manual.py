"""Job: a manual run (push one record, push changed rows, pull an entity, sync the store)
asked for through the API or the console, under the same one-turn-per-integration rule as
every other job.

The parameters travel in the job's record (`crmsync.runtime.job_records`), never in the
queue's arguments; the outcome is written back there (`concluido` with the run's summary,
or `erro` with a short message) for `GET /api/crm/jobs/{id}`. Everything was validated by
the service that queued it (store, integration, entity, direction, record); what can still
go wrong here (the integration switched off meanwhile, the CRM down) is reported, not raised.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from crmsync.engine import SyncEngine
from crmsync.providers.base import ProviderError
from crmsync.runtime.job_records import read_record, update_record
from crmsync.runtime.jobs.base import JobRun, describe, job_run
from crmsync.runtime.queue import job

log = logging.getLogger("crmsync.jobs")

NAME = "manual_run"


def run_kind(engine: SyncEngine, kind: str, params: dict[str, Any]) -> Any:
    """Make the one engine call a manual job of `kind` stands for."""
    if kind == "push_one":
        return engine.push_one(str(params["entity"]), int(params["entity_id"]))
    if kind == "push":
        return engine.push(str(params["entity"]), all_rows=bool(params.get("all_rows")))
    if kind == "pull":
        return engine.pull(str(params["entity"]), full=bool(params.get("full")))
    if kind == "sync":
        return engine.sync(params.get("entities") or None)
    raise ValueError(f"tipo de job desconhecido: {kind}")


@job(NAME)
def manual_run(job_id: str) -> str:
    with job_run(NAME) as run:
        record = read_record(run.state, job_id)
        if record is None:
            return run.done("ignorado")
        if not run.load(int(record["integracao_id"])):
            update_record(
                run.state, job_id, status="erro", erro="a integração está desativada", terminado_em=time.time()
            )
            return run.done("ignorado")
        with run.locked([]):
            return _run_manual(run, job_id, record)


def _run_manual(run: JobRun, job_id: str, record: dict[str, Any]) -> str:
    update_record(run.state, job_id, status="executando", iniciado_em=time.time())
    params = dict(record.get("parametros") or {})
    try:
        result = run.call_engine_with(
            "manual",
            lambda engine: run_kind(engine, str(record["tipo"]), params),
            dry_run=bool(params.get("dry_run")),
            actor=params.get("actor"),
        )
    except ProviderError as exc:
        update_record(run.state, job_id, status="erro", erro=describe_provider(exc), terminado_em=time.time())
        return run.done("erro")
    except Exception as exc:
        log.warning("job manual %s falhou: %s", job_id, describe(exc))
        update_record(run.state, job_id, status="erro", erro="falha interna ao executar", terminado_em=time.time())
        return run.done("erro")
    summary = result.as_dict()
    ok = bool(summary.get("success", True))
    update_record(run.state, job_id, status="concluido", sucesso=ok, resultado=summary, terminado_em=time.time())
    return run.done("sucesso" if ok else "erro")


def describe_provider(exc: ProviderError) -> str:
    """The provider error's own (short, credential-free) message."""
    return describe(exc).split(": ", 1)[-1]
