"""`crmsync serve --workers N` on Linux: every API process listens on a socket of its own
(`SO_REUSEPORT`), so the kernel spreads new connections evenly over the processes.

Why: with uvicorn's one listening socket shared by its processes, whichever process wakes first
accepts a whole burst of connections (the event loop accepts until the queue is empty), and a
keep-alive client then stays with the process that accepted it for as long as it lives (the
ERP's PHP pools, a proxy's upstream pool, the bench's clients). Measured with
`bench/api_load.py` (300 clients, 2 processes, PostgreSQL): 200 connections on one process and
100 on the other, and the latencies in two humps, around 0.6 s and 1.8 s: the p99 was the
crowded process's queue. With a socket each, the kernel hashes every new connection to one of
them: 173 and 166 connections, one hump around the mean.

uvicorn's supervisor (restarts, health pings, signals) is kept as it is; only its worker
process changes: it binds its own socket instead of inheriting the parent's. The parent first
binds the port without `SO_REUSEPORT` for a moment, so a port already taken (by anything,
including another crmsync that would otherwise silently share it) is an error at once.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import sys

from uvicorn import Config
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess, multiprocess

logger = logging.getLogger("uvicorn.error")


def balanced_sockets_supported() -> bool:
    """Linux spreads connections over `SO_REUSEPORT` listeners; other systems do not (BSD and
    macOS give them to one socket), so there uvicorn's shared socket stays."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def _socket_for(host: str) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    return sock


def claim_port(host: str, port: int) -> int:
    """The port the processes will share (`port`, or the one the system picks for 0), after
    checking that nothing listens there: bound without `SO_REUSEPORT`, so any listener, even one
    that set it, makes this fail with the system's message (`OSError`)."""
    with _socket_for(host) as probe:
        probe.bind((host, port))
        return int(probe.getsockname()[1])


def own_listener(host: str, port: int) -> socket.socket:
    """One process's listening socket, in the port's `SO_REUSEPORT` group."""
    sock = _socket_for(host)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


class OwnSocketProcess(multiprocess.Process):
    """A uvicorn worker process that listens on a socket of its own (see the module docstring)."""

    def __init__(self, config: Config, sockets: list[socket.socket]) -> None:
        super().__init__(config, [])  # the supervisor's shared sockets: not inherited

    def target(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            listener = own_listener(self.config.host, self.config.port)
        except OSError as exc:  # taken since the parent's check: stop, do not restart in a loop
            logger.error(exc)
            sys.exit(STARTUP_FAILURE)
        super().target([listener])


def run_balanced(config: Config) -> None:
    """Run `config.workers` API processes, each on its own listener, under uvicorn's supervisor
    (which builds its workers from its module's `Process`: ours, in this parent process)."""
    config.port = claim_port(config.host, config.port)
    multiprocess.Process = OwnSocketProcess  # type: ignore[misc]
    logger.info("Uvicorn running on http://%s:%d, one socket per process", config.host, config.port)
    with contextlib.suppress(KeyboardInterrupt):
        Multiprocess(config, sockets=[]).run()
