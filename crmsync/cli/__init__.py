"""The `crmsync` command line. Each area registers its commands from its own module so the
commands stay small and separately owned: admin (db, loja, integration), serve, sandbox,
sync (push, pull, sync, conflicts, duplicates, log), runtime (worker, demo, retry, ignore),
schema (inspect, check, triggers: attaching to an ERP's own tables).

The command modules import the services, the runtime and the database inside each command
on purpose (start-up time): `crmsync --help` and every command load only what they use, and
the ORM, the engine and the queue are not paid for by `crmsync sandbox` or a typo."""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="crmsync",
    help="Sincronização bidirecional entre o ERP local e CRMs externos (GestãoClick, SuiteCRM).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

for _module in ("admin", "serve", "sandbox", "sync", "runtime", "schema", "reconcile"):
    importlib.import_module(f"crmsync.cli.{_module}").register(app)
