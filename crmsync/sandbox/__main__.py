"""``python -m crmsync.sandbox [--port 8900 ...]``: the sandbox as a separate process
(the same command as ``crmsync sandbox``, without the rest of the CLI)."""

from __future__ import annotations

import typer

from crmsync.sandbox.command import sandbox

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
app.command("sandbox")(sandbox)

if __name__ == "__main__":
    app()
