"""Shared CLI behaviour: one-line errors with exit code 2, `--json` output, and turning
our own exceptions into messages a person can act on (never a stack trace)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import typer
from rich.console import Console

console = Console()
err_console = Console(stderr=True)

EXIT_OK = 0
EXIT_ITEM_ERRORS = 1
EXIT_USAGE = 2

JsonOption = typer.Option(False, "--json", help="Saída em JSON para máquinas.")


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """Print one line on stderr and exit; nothing has been changed when this is called."""
    err_console.print(f"erro: {message}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, default=str, indent=2) + "\n")
    sys.stdout.flush()


@contextmanager
def user_errors() -> Iterator[None]:
    """Map expected errors (bad config, unknown ids, unreachable database) to exit 2."""
    from sqlalchemy.exc import OperationalError

    from crmsync.config import ConfigError

    try:
        yield
    except typer.Exit:
        raise
    except ConfigError as exc:
        fail(str(exc))
    except LookupError as exc:
        fail(str(exc.args[0]) if exc.args else "não encontrado")
    except ValueError as exc:
        fail(str(exc))
    except OperationalError:
        fail("banco de dados indisponível ou não migrado (rode `crmsync db upgrade`)")


def provider_secret(name: str, value: str | None, file: Path | None, env_var: str) -> str:
    """A provider secret from its option, else its file (first line, trimmed), else its
    environment variable; ValueError (exit 2) naming the three ways when none gives one."""
    if value:
        return value
    if file is not None:
        try:
            text = file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ValueError(f"não foi possível ler o arquivo de {name}: {exc.strerror}") from None
        if not text:
            raise ValueError(f"o arquivo de {name} está vazio")
        return text.splitlines()[0].strip()
    from_env = os.environ.get(env_var, "").strip()
    if from_env:
        return from_env
    option = name.replace("_", "-")
    raise ValueError(f"{name} é obrigatório: use --{option}, --{option}-file ou a variável {env_var}")


def run_reporting(fn: Callable[[], Any]) -> Any:
    with user_errors():
        return fn()
