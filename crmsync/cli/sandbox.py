"""``crmsync sandbox``: run a local GestãoClick (default) or SuiteCRM stand-in until Ctrl-C.

The command itself lives with the sandboxes (``crmsync.sandbox.command``), so that
``python -m crmsync.sandbox`` runs it without importing the CLI; here it is only registered.
"""

from __future__ import annotations

import typer

from crmsync.sandbox.command import sandbox


def register(app: typer.Typer) -> None:
    """Adds the ``sandbox`` command to the main Typer app."""
    app.command("sandbox")(sandbox)
