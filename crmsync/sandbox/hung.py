"""A CRM that hangs: it accepts connections and never answers, until released.

Why: the worst neighbour a store can have is not a CRM that fails (that is quick to notice)
but one that takes a request and never answers. Tests and `bench/tenants.py` point one
store at this to check that the others keep flowing. It also counts how many connections
it holds at once, which is how many workers that one store has taken. `recover(url)` makes
it answer again (new connections are relayed to a real server, e.g. a sandbox): the CRM
came back, at the same address.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType


class HungServer:
    """`with HungServer() as hung: ... hung.base_url ... hung.max_open`"""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, 0))
        self._sock.listen(64)
        self._sock.settimeout(0.2)
        self.port = int(self._sock.getsockname()[1])
        self.base_url = f"http://{host}:{self.port}"
        self._held: list[socket.socket] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.accepted = 0
        self.max_open = 0
        self.relayed = 0
        self._target: tuple[str, int] | None = None
        self._thread = threading.Thread(target=self._accept, name="hung-crm", daemon=True)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                continue
            if self._target is not None:
                self._relay(conn, self._target)
                continue
            with self._lock:
                self._drop_closed()
                self._held.append(conn)
                self.accepted += 1
                self.max_open = max(self.max_open, len(self._held))

    def _drop_closed(self) -> None:
        """Forget connections the client gave up on (it timed out and closed its side)."""
        alive = []
        for conn in self._held:
            gone = False
            try:
                conn.setblocking(False)
                while True:  # read what the client sent (and never answer it)
                    if conn.recv(65536) == b"":
                        gone = True
                        break
            except BlockingIOError:
                pass
            except OSError:
                gone = True
            if gone:
                conn.close()
            else:
                alive.append(conn)
        self._held = alive

    @property
    def open_now(self) -> int:
        with self._lock:
            self._drop_closed()
            return len(self._held)

    def recover(self, base_url: str) -> None:
        """From now on relay new connections to `base_url` (`http://host:port`): answers again."""
        host, port = base_url.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)
        self._target = (host, int(port))

    def _relay(self, conn: socket.socket, target: tuple[str, int]) -> None:
        with self._lock:
            self.relayed += 1
        try:
            upstream = socket.create_connection(target, timeout=5)
        except OSError:
            conn.close()
            return
        conn.settimeout(None)
        upstream.settimeout(None)
        for src, dst in ((conn, upstream), (upstream, conn)):
            threading.Thread(target=_pump, args=(src, dst), name="hung-crm-relay", daemon=True).start()

    def release(self) -> None:
        """Close every held connection (the clients see the answer cut off)."""
        with self._lock:
            for conn in self._held:
                conn.close()
            self._held = []

    def start(self) -> HungServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.release()
        self._sock.close()

    def __enter__(self) -> HungServer:
        return self.start()

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


def _pump(src: socket.socket, dst: socket.socket) -> None:
    """Copy bytes one way until either side closes, then close both."""
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (src, dst):  # shutdown wakes the other direction's blocked recv
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
