"""A loopback port a test names before its server runs, without a window for anyone to take it."""

from __future__ import annotations

import socket


def held_port() -> socket.socket:
    """A socket bound to a free loopback port and not listening: a connection to it is refused,
    as by a CRM that is down, and no other test's server or client can take the port meanwhile.
    Close it right before the server that is to answer there binds the same port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock
