"""A raw loopback HTTP server for answers no well-behaved server gives: drip-fed bytes,
oversized bodies, pages longer than asked for. Each connection gets `answer(request_line)`
as (head, [(delay_seconds, bytes)...]) and is closed after."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from crmsync.config import parse_config
from crmsync.providers.gestaoclick import GestaoClickProvider

Chunks = list[tuple[float, bytes]]
Answer = Callable[[str], tuple[bytes, Chunks]]


def head(status: str = "200 OK", length: int | None = None, content_type: str = "application/json") -> bytes:
    lines = [f"HTTP/1.1 {status}", f"Content-Type: {content_type}", "Connection: close"]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class LoopbackServer:
    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.requests: list[str] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                got = conn.recv(65536)
                if not got:
                    return
                data += got
            line = data.split(b"\r\n", 1)[0].decode()
            self.requests.append(line)
            first, chunks = self.answer(line)
            try:
                conn.sendall(first)
                for delay, chunk in chunks:
                    if self.stop.wait(delay):
                        return
                    conn.sendall(chunk)
            except OSError:  # the client gave up: what a bounded client does
                return

    def __enter__(self) -> LoopbackServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.sock.close()
        time.sleep(0)


@pytest.fixture
def servers() -> Iterator[list[LoopbackServer]]:
    """The loopback servers a test starts (it appends them), each closed after the test."""
    made: list[LoopbackServer] = []
    yield made
    for server in made:
        server.close()


def gestaoclick_at(url: str, **kwargs: Any) -> GestaoClickProvider:
    """A GestãoClick provider at a loopback server: one attempt, no pacing, no daily quota."""
    return GestaoClickProvider(
        url,
        credentials={"access_token": "a", "secret_access_token": "b"},
        config=parse_config({}),
        rate_limit_per_second=None,
        daily_quota=None,
        max_attempts=1,
        **kwargs,
    )
