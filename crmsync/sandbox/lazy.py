"""Package names loaded on first use (PEP 562), for the sandbox packages' ``__init__``.

Why: ``crmsync sandbox --help`` reads only the option defaults in the config modules; the
packages' convenient names (``create_app``, the servers) would otherwise import FastAPI
and uvicorn with them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_names(package: str, homes: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that imports ``homes[name]`` (a module) when ``name`` is read."""

    def __getattr__(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(home), name)

    return __getattr__
