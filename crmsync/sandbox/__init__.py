"""A local stand-in for the GestãoClick API (tests, demos, benchmarks).

``create_app(config)`` builds the FastAPI app; ``SandboxServer`` runs it on a free loopback
port in a background thread.
"""

from crmsync.sandbox.app import create_app
from crmsync.sandbox.config import CompanyCredentials, SandboxConfig, numbered_companies
from crmsync.sandbox.server import SandboxServer

__all__ = ["CompanyCredentials", "SandboxConfig", "SandboxServer", "create_app", "numbered_companies"]
