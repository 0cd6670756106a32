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


# `crmsync loja add --json` once per name, all in one interpreter: each process start costs
# a second or two of CPU (the ORM, the migrations' first run), and a burst test wants four.
_ADD_STORES = """
import sys
from crmsync.cli import app
for nome in sys.argv[1:]:
    app(["loja", "add", "--nome", nome, "--json"], prog_name="crmsync", standalone_mode=False)
"""


def add_stores(cwd: Path, env: dict[str, str], names: list[str]) -> list[str]:
    """The API keys of stores `names`, added by the CLI's `loja add` in `cwd`."""
    added = subprocess.run(
        [sys.executable, "-c", _ADD_STORES, *names],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    decoder, out, keys = json.JSONDecoder(), added.stdout.strip(), []
    while out:  # one JSON document per store, each over several lines
        doc, end = decoder.raw_decode(out)
        keys.append(str(doc["api_key"]))
        out = out[end:].strip()
    assert len(keys) == len(names), added.stdout
    return keys


def add_store(cwd: Path, env: dict[str, str], nome: str) -> str:
    return add_stores(cwd, env, [nome])[0]


def _answers_health(proc: subprocess.Popen[bytes], base: str, log_path: Path) -> bool:
    """Wait for /health (True); False when the process exited because its port was taken."""
    deadline = time.monotonic() + 120  # bounds a hang only: start-up is slow on a loaded machine
    while proc.poll() is None:
        try:
            if httpx.get(f"{base}/health", timeout=10).status_code == 200:
                return True
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "crmsync serve did not answer /health"
        time.sleep(0.2)
    return "address already in use" not in log_path.read_text().lower()


@contextmanager
def serve(
    cwd: Path, *, stores: int = 1, env: dict[str, str] | None = None, args: list[str] | None = None
) -> Iterator[Served]:
    """`crmsync serve` on a free port in `cwd` (default SQLite there); yields once /health answers."""
    full_env = clean_env(env)
    keys = add_stores(cwd, full_env, [f"Loja {i}" for i in range(stores)]) if stores else []
    log_path = cwd / "serve.log"
    for attempt in range(3):
        # The port is picked free, then bound by the child: another process may take it in
        # between (parallel tests); that start fails at once saying so, and we pick again.
        port = free_port()
        log = log_path.open("w")
        proc = subprocess.Popen(
            [CRMSYNC, "serve", "--host", "127.0.0.1", "--port", str(port), *(args or [])],
            cwd=cwd,
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        if _answers_health(proc, base, log_path) or attempt == 2:
            break
        proc.wait()
        log.close()
    try:
        assert proc.poll() is None, log_path.read_text()
        yield Served(base, keys, log_path)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
