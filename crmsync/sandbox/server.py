"""``SandboxServer``: run the sandbox on a free loopback port inside the current process.

Tests of other components use it as a context manager and keep ``.store`` to inspect or edit
data "from the panel" without going through the rate-limited API.
"""

from __future__ import annotations

import dataclasses
import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, ClassVar, Generic, Self, TypeVar

import uvicorn

from crmsync.sandbox.app import SandboxState, build_state, create_app
from crmsync.sandbox.config import SandboxConfig
from crmsync.sandbox.store import SandboxStore

ConfigT = TypeVar("ConfigT")
StateT = TypeVar("StateT")


class _DropNoise(logging.Filter):
    """The dropped-connection fault makes uvicorn log an error on purpose; hide that line."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "without completing response" not in record.getMessage()


def quiet_uvicorn_fault_logs() -> None:
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _DropNoise) for f in logger.filters):
        logger.addFilter(_DropNoise())


class LoopbackUvicorn:
    """Serve one ASGI app with uvicorn in a daemon thread on a loopback socket.

    Shared by the GestãoClick and SuiteCRM sandboxes' harnesses: binding the socket ourselves
    gives a free port before the server runs, and ``start`` returns only once it accepts TCP.
    """

    def __init__(self, host: str, port: int, log_level: str = "warning") -> None:
        self.host = host
        self.port = port
        self._log_level = log_level
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, app: Any, timeout: float = 15.0) -> int:
        """Run ``app``; returns the bound port."""
        quiet_uvicorn_fault_logs()
        # proto must be IPPROTO_TCP: asyncio only sets TCP_NODELAY on accepted sockets whose proto
        # says TCP, and without it every response pays a 40 ms Nagle/delayed-ACK stall.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        self._socket = sock
        uconfig = uvicorn.Config(
            app,
            log_level=self._log_level,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=2,
            timeout_keep_alive=5,
        )
        self._server = uvicorn.Server(uconfig)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name=f"sandbox-{self.port}", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive():
                self.stop()
                raise RuntimeError("sandbox server failed to start")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("sandbox server did not start in time")
            time.sleep(0.01)
        # Belt and braces: it must accept a TCP connection before tests talk to it.
        with socket.create_connection((self.host, self.port), timeout=timeout):
            pass
        return self.port

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._socket is not None:
            self._socket.close()
        self._server = None
        self._thread = None
        self._socket = None


@dataclass(frozen=True)
class SandboxParts(Generic[ConfigT, StateT]):
    """What makes one sandbox: its default config, the state built from a config, the app
    serving a state (``create_app(state=...)`` of its app module)."""

    config: Callable[[], ConfigT]
    build_state: Callable[[ConfigT], StateT]
    create_app: Callable[..., Any]


class LoopbackSandbox(Generic[ConfigT, StateT]):
    """What both sandboxes' harnesses share (GestãoClick's :class:`SandboxServer`, SuiteCRM's
    ``SuiteCrmSandboxServer``): a config with ``**overrides``, the state built at the first
    start, the app served by :class:`LoopbackUvicorn`, a context manager, ``serve_forever``
    for the CLI. A restart (``stop()`` then ``start()``) keeps the state and the port: an
    outage, not a new company. Subclasses say how to build the state and the app, and what
    to release."""

    parts: ClassVar[SandboxParts[Any, Any]]

    def __init__(
        self,
        config: ConfigT | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        log_level: str = "warning",
        **overrides: Any,
    ) -> None:
        base = config if config is not None else self._default_config()
        self.config: ConfigT = dataclasses.replace(base, **overrides) if overrides else base  # type: ignore[type-var]
        self.host = host
        self._requested_port = port
        self._log_level = log_level
        self.port = 0
        self._state: StateT | None = None
        self._runner: LoopbackUvicorn | None = None

    # ------------------------------------------------------------------ what differs
    def _default_config(self) -> ConfigT:
        return self.parts.config()

    def _build_state(self) -> StateT:
        return self.parts.build_state(self.config)

    def _app(self, state: StateT) -> Any:
        return self.parts.create_app(state=state)

    def _restarted(self, state: StateT) -> None:
        """Before serving again after a ``stop()``."""

    def _stopped(self, state: StateT) -> None:
        """After serving stopped (the store stays open for tests to inspect)."""

    def _release(self, state: StateT) -> None:
        """Close the stores (``close()``: the CLI on Ctrl-C)."""

    # ------------------------------------------------------------------ lifecycle
    def start(self, timeout: float = 15.0) -> Self:
        if self._runner is not None:
            return self
        if self._state is None:
            self._state = self._build_state()
        else:
            self._restarted(self._state)
        runner = LoopbackUvicorn(self.host, self.port or self._requested_port, self._log_level)
        self.port = runner.start(self._app(self._state), timeout)
        self._runner = runner
        return self

    def stop(self) -> None:
        if self._runner is not None:
            self._runner.stop()
        if self._state is not None:
            self._stopped(self._state)
        self._runner = None

    def close(self) -> None:
        """Stop and also release the store (the CLI does this on Ctrl-C)."""
        self.stop()
        if self._state is not None:
            self._release(self._state)

    def serve_forever(self) -> None:
        """Blocking run (separate-process use); Ctrl-C stops it."""
        self.start()
        try:
            while self._runner is not None and self._runner.alive:
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            self.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def state(self) -> StateT:
        if self._state is None:
            raise RuntimeError("sandbox server not started")
        return self._state

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"


class SandboxServer(LoopbackSandbox[SandboxConfig, SandboxState]):
    """A running sandbox: ``with SandboxServer(rate_limit=0) as sb: httpx.get(sb.base_url + "/clientes")``."""

    parts = SandboxParts(SandboxConfig, build_state, create_app)

    def _restarted(self, state: SandboxState) -> None:
        state.restart_emitter()  # stop() closed the webhook thread

    def _stopped(self, state: SandboxState) -> None:
        if state.emitter is not None:
            state.emitter.close()

    def _release(self, state: SandboxState) -> None:
        for store in state.stores.values() or [state.store]:
            store.close()

    # ------------------------------------------------------------------ accessors
    @property
    def store(self) -> SandboxStore:
        return self.state.store

    @property
    def headers(self) -> dict[str, str]:
        """Auth headers of the first company, for convenience in tests."""
        return self.headers_for(None)

    def headers_for(self, company: str | None) -> dict[str, str]:
        """Auth headers of the company named ``company`` (None: the first)."""
        companies = self.config.company_list()
        found = companies[0] if company is None else next((c for c in companies if c.name == company), None)
        if found is None:
            raise KeyError(company)
        return {"access-token": found.access_token, "secret-access-token": found.secret_access_token}

    def company_store(self, company: str | None) -> SandboxStore:
        """A company's data (None: the first company's, the same as ``.store``)."""
        return self.state.store_for(company)

    def stats(self) -> dict[str, Any]:
        return self.state.traffic.snapshot()

    def requests(self) -> list[dict[str, Any]]:
        return self.state.traffic.requests()

    def reset_stats(self, quota: bool = False) -> None:
        self.state.traffic.reset(quota=quota)

    def set_clock_offset(self, seconds: float) -> None:
        self.state.set_clock_offset(seconds)

    # ------------------------------------------------------------------ panel (no limits, no faults)
    # ``company``: whose data (None: the first company, the only one unless several are declared).
    def panel_create(self, recurso: str, data: dict[str, Any], *, company: str | None = None) -> dict[str, Any]:
        return self.company_store(company).create(recurso, data, origem="painel")

    def panel_update(
        self, recurso: str, id: Any, data: dict[str, Any], *, company: str | None = None
    ) -> dict[str, Any]:
        return self.company_store(company).update(recurso, id, data, origem="painel")

    def panel_delete(self, recurso: str, id: Any, *, company: str | None = None) -> None:
        self.company_store(company).delete(recurso, id, origem="painel")

    def panel_get(self, recurso: str, id: Any, *, company: str | None = None) -> dict[str, Any]:
        return self.company_store(company).get(recurso, id)

    def panel_list(self, recurso: str, *, company: str | None = None) -> list[dict[str, Any]]:
        return self.company_store(company).list_all(recurso)

    def flush_webhooks(self, timeout: float = 10.0) -> bool:
        """Wait for queued webhook deliveries (True when none are left)."""
        emitter = self.state.emitter
        return True if emitter is None else emitter.flush(timeout)
