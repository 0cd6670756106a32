"""``python -m crmsync.sandbox [--port 8900 ...]``: the sandbox as a separate process."""

from __future__ import annotations

import typer

from crmsync.cli.sandbox import register

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
register(app)

if __name__ == "__main__":
    app()
