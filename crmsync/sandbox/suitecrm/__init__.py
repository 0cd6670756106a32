"""A local stand-in for the SuiteCRM 7 API V8 (JSON:API, OAuth2), for tests, demos and benchmarks.

``SuiteCrmSandboxServer`` runs it on a free loopback port in a background thread; see
``crmsync/sandbox/README.md`` ("SuiteCRM sandbox").

The names are loaded on first use (PEP 562), like ``crmsync.sandbox``'s: the CLI's option
defaults come from ``suitecrm.config`` without FastAPI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crmsync.sandbox.lazy import lazy_names

if TYPE_CHECKING:
    from crmsync.sandbox.suitecrm.app import create_app
    from crmsync.sandbox.suitecrm.config import SuiteCrmSandboxConfig
    from crmsync.sandbox.suitecrm.server import SuiteCrmSandboxServer

__all__ = ["SuiteCrmSandboxConfig", "SuiteCrmSandboxServer", "create_app"]

__getattr__ = lazy_names(
    __name__,
    {
        "create_app": "crmsync.sandbox.suitecrm.app",
        "SuiteCrmSandboxConfig": "crmsync.sandbox.suitecrm.config",
        "SuiteCrmSandboxServer": "crmsync.sandbox.suitecrm.server",
    },
)
