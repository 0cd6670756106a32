"""The whole app (API + console) served by uvicorn in a thread on a loopback port: real
concurrent HTTP in the test's own process, on the database its settings name."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Protocol, TypeVar

import uvicorn

from crmsync.api.app import create_app


class LiveApp:
    """`create_app()` in a uvicorn thread (lifespan off: no embedded worker)."""

    def __init__(self) -> None:
        # Bound here and handed to uvicorn: a port only looked up free could be taken by
        # another xdist worker before uvicorn binds it.
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        config = uvicorn.Config(create_app(), log_level="warning", access_log=False, lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LiveApp:
        """Returns once uvicorn serves (the deadline only bounds a hang)."""
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the app server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


class _Server(Protocol):
    def start(self) -> object: ...

    def stop(self) -> None: ...


S = TypeVar("S", bound=_Server)


def started_servers(make: Callable[[], S]) -> Iterator[Callable[[], S]]:
    """A factory fixture's body (`yield from`): each call makes and starts a server; every one
    started is stopped at teardown."""
    made: list[S] = []

    def start() -> S:
        server = make()
        server.start()
        made.append(server)
        return server

    yield start
    for server in made:
        server.stop()
