"""Shared CLI behaviour: one-line errors with exit code 2, `--json` output, and turning
our own exceptions into messages a person can act on (never a stack trace)."""

from __future__ import annotations

import json
import os
import re
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


def answer(as_json: bool, data: Any, message: str) -> None:
    """A command's result: `data` as JSON for machines (``--json``), else `message` as one
    plain line (no rich markup or highlighting: names and values print as they are)."""
    if as_json:
        emit_json(data)
    else:
        console.print(message, highlight=False, markup=False)


@contextmanager
def user_errors() -> Iterator[None]:
    """Map expected errors (bad config, unknown ids, unreachable database) to exit 2."""
    from sqlalchemy.exc import DBAPIError

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
    except DBAPIError as exc:
        fail(database_error(exc))


#: what a driver's message may carry that must never reach a terminal or a log.
_URL_SECRET = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:/@\s]*):[^@\s]*@", re.IGNORECASE)
_KEY_SECRET = re.compile(
    r"(?P<key>password|passwd|pwd|secret|token)(?P<sep>\s*[=:]\s*)(?:'[^']*'|\"[^\"]*\"|\S+)", re.IGNORECASE
)
_MAX_CAUSE = 200


def database_cause(exc: BaseException) -> str:
    """The driver's own message, on one line, cut, with passwords and URL secrets masked."""
    orig = getattr(exc, "orig", None) or exc
    args: tuple[Any, ...] = tuple(getattr(orig, "args", ()))
    # pymysql: (1267, "Illegal mix of ..."); the others say it in str()
    message = f"({args[0]}) {args[1]}" if len(args) >= 2 and isinstance(args[0], int) else str(orig)
    line = " ".join(message.split())
    line = _URL_SECRET.sub(lambda m: f"{m['scheme']}{m['user']}:***@", line)
    line = _KEY_SECRET.sub(lambda m: f"{m['key']}{m['sep']}***", line)
    if len(line) > _MAX_CAUSE:
        line = line[: _MAX_CAUSE - 1].rstrip() + "…"
    return line or type(orig).__name__


def database_error(exc: BaseException) -> str:
    """One line for a database error: the cause, and "run db upgrade" only when crmsync's
    own database really is behind its migrations."""
    from crmsync.db.schema import pending_migrations
    from crmsync.settings import get_settings

    cause = database_cause(exc)
    try:
        behind = pending_migrations(get_settings().resolved_database_url())
    except Exception:  # the settings themselves are broken: the cause is what matters
        behind = None
    if behind:
        return f"banco de dados não migrado (rode `crmsync db upgrade`): {cause}"
    return f"banco de dados: {cause}"


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
