"""A local stand-in for the GestãoClick API (tests, demos, benchmarks).

``create_app(config)`` builds the FastAPI app; ``SandboxServer`` runs it on a free loopback
port in a background thread.

The names are loaded on first use (PEP 562): ``crmsync sandbox --help`` reads only the
option defaults in ``sandbox.config``, and must not pay for FastAPI and the server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crmsync.sandbox.lazy import lazy_names

if TYPE_CHECKING:
    from crmsync.sandbox.app import create_app
    from crmsync.sandbox.config import CompanyCredentials, SandboxConfig, numbered_companies
    from crmsync.sandbox.server import SandboxServer

__all__ = ["CompanyCredentials", "SandboxConfig", "SandboxServer", "create_app", "numbered_companies"]

__getattr__ = lazy_names(
    __name__,
    {
        "create_app": "crmsync.sandbox.app",
        "CompanyCredentials": "crmsync.sandbox.config",
        "SandboxConfig": "crmsync.sandbox.config",
        "numbered_companies": "crmsync.sandbox.config",
        "SandboxServer": "crmsync.sandbox.server",
    },
)
