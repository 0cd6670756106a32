"""`crmsync serve`: migrate the database, then run the REST API, the web console, the embedded
worker and the scheduler in one process, so the default install needs nothing else running."""

from __future__ import annotations

import typer

from crmsync.cli.common import user_errors


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Endereço de escuta."),
    port: int = typer.Option(8000, "--port", help="Porta de escuta."),
    no_worker: bool = typer.Option(False, "--no-worker", help="Só a API, sem o worker embutido."),
) -> None:
    """API REST (docs em /docs) sobre o banco configurado; migra o banco antes de começar."""
    import uvicorn

    from crmsync.api.app import create_app
    from crmsync.cli.admin import migrate

    with user_errors():
        url = migrate()
    typer.echo(f"crmsync: banco {url}; API em http://{host}:{port} (documentação em /docs)", err=True)
    from crmsync.logs import configure
    from crmsync.runtime import EmbeddedRuntime
    from crmsync.settings import get_settings

    configure(get_settings().log_level)  # logs to stderr, so stdout stays for results
    app = create_app()
    if not no_worker:
        # Worker threads + scheduler in this process; attach() stops them inside the app's
        # shutdown, because uvicorn re-raises SIGTERM right after its own and code after
        # run() never executes.
        EmbeddedRuntime().start().attach(app)
    uvicorn.run(app, host=host, port=port, log_level="info")
