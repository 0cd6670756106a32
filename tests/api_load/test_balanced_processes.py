"""Issue #20: `crmsync serve --workers N` gives each API process a listening socket of its own
(Linux `SO_REUSEPORT`), so keep-alive connections spread over the processes; with uvicorn's one
shared socket, one process took twice the connections of the other and its queue was the p99.

Read from the kernel's own tables (/proc/net/tcp and each process's descriptors): which
sockets listen on the port, and which process holds each accepted connection."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from support.waiting import wait_for

from .server import CRMSYNC, clean_env, serve

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SO_REUSEPORT spreading is Linux's")

LISTEN, ESTABLISHED = "0A", "01"


def _sockets_on(port: int, state: str) -> list[str]:
    """Inodes of the IPv4 TCP sockets whose local port is `port`, in `state`."""
    inodes = []
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == state:
            inodes.append(fields[9])
    return inodes


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def _serve_pid(port: int) -> int:
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"serve" in cmdline and str(port).encode() in cmdline:
                return int(entry)
    raise AssertionError("no crmsync serve process found")


def test_each_process_listens_on_its_own_socket_and_connections_spread(tmp_path: Path) -> None:
    with serve(tmp_path, stores=0, args=["--workers", "2", "--no-worker"]) as served:
        port = int(served.base.rsplit(":", 1)[1])
        # /health answers once one process is up; the second may still be starting
        wait_for(lambda: len(_sockets_on(port, LISTEN)) >= 2, timeout=120, what="2 listeners")
        listening = set(_sockets_on(port, LISTEN))
        assert len(listening) == 2, listening  # one shared socket before
        # the API processes (the supervisor has other children: multiprocessing's tracker)
        workers = [pid for pid in _children(_serve_pid(port)) if _socket_inodes(pid) & listening]
        assert len(workers) == 2, workers

        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(40)]
        try:
            for c in clients:  # a request on each, so every connection is accepted
                c.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
                assert c.recv(65536).startswith(b"HTTP/1.1 200")
            accepted = set(_sockets_on(port, ESTABLISHED))
            per_process = Counter({pid: len(_socket_inodes(pid) & accepted) for pid in workers})
        finally:
            for c in clients:
                c.close()
    assert sum(per_process.values()) == 40, per_process
    # the kernel hashes each connection to one of two listeners: fewer than 5 of 40 on one
    # side happens about once in ten million runs
    assert min(per_process.values()) >= 5, per_process


@pytest.mark.parametrize("reuseport", [False, True], ids=["plain listener", "SO_REUSEPORT listener"])
def test_a_taken_port_is_refused_at_once(tmp_path: Path, reuseport: bool) -> None:
    """Whatever holds the port (even a listener in a `SO_REUSEPORT` group, as another crmsync
    would be, which must not quietly get half of this one's connections): one line, exit 2."""
    holder = socket.socket()
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, int(reuseport))
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    try:
        done = subprocess.run(
            [CRMSYNC, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2", "--no-worker"],
            cwd=tmp_path,
            env=clean_env(),
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        holder.close()
    assert done.returncode == 2, done.stderr
    assert f"não foi possível escutar em 127.0.0.1:{port}" in done.stderr
    assert "Traceback" not in done.stderr
