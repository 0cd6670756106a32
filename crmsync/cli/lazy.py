"""A module loaded on first use, for the command modules' top-level names.

Why: building the Typer app (``crmsync --help``, ``crmsync sandbox``) imports every command
module; one that imported the services at its top would load SQLAlchemy, the engine, the
queue and httpx before any command ran. A command module that calls a service module from
many commands names it once, at the top, through :func:`lazy_module` (its real type under
``TYPE_CHECKING``); the import happens when a command first uses it.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class _LazyModule:
    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def _module(self) -> ModuleType:
        return importlib.import_module(self._name)

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._module(), attr)

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}>"


def lazy_module(name: str) -> Any:
    """A stand-in for module ``name`` that imports it at the first attribute read."""
    return _LazyModule(name)
