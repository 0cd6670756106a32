"""`crmsync serve`: migrate the database, then run the REST API, the web console, the embedded
worker and the scheduler in one process, so the default install needs nothing else running.

`--workers N` (N > 1) runs N API processes on the one port, with uvicorn's own process
manager (what FastAPI's documentation shows for `uvicorn --workers`), each process on a
listening socket of its own on Linux so connections spread evenly
(`crmsync.cli.serve_processes`), for the scale-out deployment: PostgreSQL (or MariaDB) +
Redis, and `crmsync worker` processes doing the jobs.
Each process has its own admission limit (`CRMSYNC_API_CONCURRENCY`) and connection pool
(`CRMSYNC_DB_POOL_SIZE`): the database sees up to N times the pool.

`--metrics-port P` (`CRMSYNC_METRICS_PORT`) serves `GET /metrics` only on that port, from a
thread of this (parent) process, on `--metrics-host` (127.0.0.1 by default), and the API's
port no longer answers it: the counters are read from the shared runtime state, so one
scrape covers every process.

uvicorn's access log (a line per request) is on only when `CRMSYNC_LOG_LEVEL` is INFO or
DEBUG: at WARNING and above nothing is logged per request, which also saves its CPU (about
3% of a busy process's).
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

import typer

from crmsync.cli.common import user_errors

# How the parent tells the worker processes (started afresh by uvicorn) whether to embed the
# job runtime: a variable of our own, read once by `worker_app`.
_EMBED_ENV = "CRMSYNC_SERVE_EMBEDDED_RUNTIME"
WORKER_HEALTHCHECK_SECONDS = 60
# uvicorn closes an idle keep-alive connection after 5 s; a client that sends its next request
# on it at that moment gets a reset (seen as ReadError in bench/api_load.py on a loaded
# machine). 75 s, as nginx, makes that race rare; clients should still retry a reset GET.
KEEP_ALIVE_SECONDS = 75


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


def worker_app() -> Any:
    """The app of one `serve` process (uvicorn's factory when it runs several): logging, the
    app, and the embedded runtime unless the parent was told `--no-worker`."""
    from crmsync.api.app import create_app
    from crmsync.gc_tuning import tune_after_startup
    from crmsync.logs import configure
    from crmsync.runtime import EmbeddedRuntime
    from crmsync.settings import get_settings

    configure(get_settings().log_level)  # logs to stderr, so stdout stays for results
    app = create_app()
    if os.environ.get(_EMBED_ENV, "1") == "1":
        # Worker threads + scheduler in this process; attach() stops them inside the app's
        # shutdown, because uvicorn re-raises SIGTERM right after its own and code after
        # run() never executes.
        EmbeddedRuntime().start().attach(app)
    tune_after_startup()
    return app


def access_log_on(level_name: str) -> bool:
    """uvicorn's per-request access log: only at INFO or a more verbose level."""
    level = logging.getLevelName(level_name.upper())
    return not isinstance(level, int) or level <= logging.INFO


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Endereço de escuta."),
    port: int = typer.Option(8000, "--port", help="Porta de escuta."),
    no_worker: bool = typer.Option(False, "--no-worker", help="Só a API, sem o worker embutido."),
    workers: int = typer.Option(
        1,
        "--workers",
        min=1,
        max=64,
        help="Processos da API na mesma porta (implantação com PostgreSQL + Redis e `crmsync worker`).",
    ),
    metrics_port: int | None = typer.Option(
        None, "--metrics-port", min=1, max=65535, help="Servir /metrics só nesta porta (CRMSYNC_METRICS_PORT)."
    ),
    metrics_host: str | None = typer.Option(
        None, "--metrics-host", help="Endereço da porta de métricas (CRMSYNC_METRICS_HOST; padrão 127.0.0.1)."
    ),
) -> None:
    """API REST (docs em /docs) sobre o banco configurado; migra o banco antes de começar."""
    import uvicorn

    from crmsync.cli.admin import migrate
    from crmsync.cli.serve_processes import balanced_sockets_supported, run_balanced
    from crmsync.settings import get_settings

    with user_errors():
        url = migrate()
    typer.echo(f"crmsync: banco {url}; API em http://{host}:{port} (documentação em /docs)", err=True)
    os.environ[_EMBED_ENV] = "0" if no_worker else "1"
    _serve_metrics_apart(metrics_port, metrics_host)
    common: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": "info",
        "access_log": access_log_on(get_settings().log_level),
        "timeout_keep_alive": KEEP_ALIVE_SECONDS,
    }
    if workers == 1:
        uvicorn.run(worker_app(), **common)
        return
    if get_settings().resolved_database_url().startswith("sqlite"):
        typer.echo(
            "crmsync: aviso: vários processos sobre SQLite disputam um só escritor; "
            "para escalar use PostgreSQL + Redis (veja o README)",
            err=True,
        )
    options: dict[str, Any] = {
        **common,
        "factory": True,
        "workers": workers,
        # uvicorn kills a process that does not answer its health ping in 5 s; one still
        # importing on a loaded machine, or busy with a burst, is not hung.
        "timeout_worker_healthcheck": WORKER_HEALTHCHECK_SECONDS,
    }
    if not balanced_sockets_supported():
        uvicorn.run("crmsync.cli.serve:worker_app", **options)
        return
    try:
        run_balanced(uvicorn.Config("crmsync.cli.serve:worker_app", **options))
    except OSError as exc:  # the port is taken
        typer.echo(f"crmsync: não foi possível escutar em {host}:{port}: {exc.strerror or exc}", err=True)
        raise typer.Exit(2) from None


def _serve_metrics_apart(port: int | None, host: str | None) -> None:
    """Start the metrics-only server (`--metrics-port`) in a daemon thread, after telling the
    API processes (through the environment they inherit) to leave /metrics out."""
    import uvicorn

    from crmsync.settings import get_settings, reset_settings_cache

    if port is not None:
        os.environ["CRMSYNC_METRICS_PORT"] = str(port)
    if host is not None:
        os.environ["CRMSYNC_METRICS_HOST"] = host
    reset_settings_cache()
    settings = get_settings()
    if not settings.metrics_port:
        return
    from crmsync.api.app import create_metrics_app

    config = uvicorn.Config(
        create_metrics_app(), host=settings.metrics_host, port=settings.metrics_port, log_level="warning"
    )
    threading.Thread(target=uvicorn.Server(config).run, name="crmsync-metrics", daemon=True).start()
    typer.echo(f"crmsync: métricas em http://{settings.metrics_host}:{settings.metrics_port}/metrics", err=True)
