"""A local stand-in for the SuiteCRM 7 API V8 (JSON:API, OAuth2), for tests, demos and benchmarks.

``SuiteCrmSandboxServer`` runs it on a free loopback port in a background thread; see
``crmsync/sandbox/README.md`` ("SuiteCRM sandbox").
"""

from crmsync.sandbox.suitecrm.app import create_app
from crmsync.sandbox.suitecrm.config import SuiteCrmSandboxConfig
from crmsync.sandbox.suitecrm.server import SuiteCrmSandboxServer

__all__ = ["SuiteCrmSandboxConfig", "SuiteCrmSandboxServer", "create_app"]
