"""A real `crmsync serve` in its own process on a free port, with stores added by the CLI,
for the burst tests: the failure they guard against (connections held while waiting for a
thread) only shows with real sockets, a real thread pool and a real connection pool."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

CRMSYNC = str(Path(sys.executable).parent / "crmsync")


@dataclass
class Served:
    base: str
    keys: list[str]
    log: Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRMSYNC_")}
    env.update(extra or {})
    return env


def add_store(cwd: Path, env: dict[str, str], nome: str) -> str:
    added = subprocess.run(
        [CRMSYNC, "loja", "add", "--nome", nome, "--json"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return str(json.loads(added.stdout)["api_key"])


@contextmanager
def serve(
    cwd: Path, *, stores: int = 1, env: dict[str, str] | None = None, args: list[str] | None = None
) -> Iterator[Served]:
    """`crmsync serve` on a free port in `cwd` (default SQLite there); yields once /health answers."""
    full_env = clean_env(env)
    keys = [add_store(cwd, full_env, f"Loja {i}") for i in range(stores)]
    port = free_port()
    log_path = cwd / "serve.log"
    log = log_path.open("w")
    proc = subprocess.Popen(
        [CRMSYNC, "serve", "--host", "127.0.0.1", "--port", str(port), *(args or [])],
        cwd=cwd,
        env=full_env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, log_path.read_text()
            try:
                if httpx.get(f"{base}/health", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "crmsync serve did not answer /health"
            time.sleep(0.2)
        yield Served(base, keys, log_path)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
