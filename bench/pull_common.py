"""What the pull benchmarks share (bench/pull.py for GestãoClick, bench/pull_suitecrm.py):
a fresh SQLite database with one store and one integration, a sandbox in its own process,
the sandbox's request counter.

The sandbox runs apart so the memory figures are the engine's alone; it is seeded through
its store, not over HTTP.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx


def bench_database(keep: Path | None, prefix: str) -> str:
    """A fresh SQLite file (in ``keep``, else a temporary directory) as this process's
    crmsync database, logs quiet; returns its URL."""
    workdir = keep or Path(tempfile.mkdtemp(prefix=prefix))
    workdir.mkdir(parents=True, exist_ok=True)
    db_path = workdir / "bench.db"
    if db_path.exists():
        db_path.unlink()
    os.environ["CRMSYNC_DATA_DIR"] = str(workdir)
    os.environ["CRMSYNC_DATABASE_URL"] = f"sqlite:///{db_path}"
    os.environ.setdefault("CRMSYNC_SECRET_KEY", "xJ7Ob0rNwrZ0Vq3r9mOe2jvV6lE4hN8XcZ1pQ5sT7uY=")
    os.environ.setdefault("CRMSYNC_LOG_LEVEL", "WARNING")

    import logging

    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    return os.environ["CRMSYNC_DATABASE_URL"]


def bench_integration(url: str, provider: str, credentials: dict[str, str]) -> tuple[Any, int]:
    """Migrate ``url``, add one store and one ``provider`` integration; (sessionmaker, its id)."""
    from crmsync.crypto import encrypt_json
    from crmsync.db.local import Loja
    from crmsync.db.schema import create_schema
    from crmsync.db.session import get_sessionmaker
    from crmsync.db.sync import CrmIntegracao

    create_schema(url)
    sf = get_sessionmaker(url)
    with sf() as s, s.begin():
        loja = Loja(nome="Bench", api_key_hash="b" * 64, api_key_prefix="crm_")
        s.add(loja)
        s.flush()
        integ = CrmIntegracao(
            id_loja=loja.id,
            provider=provider,
            base_url="http://sandbox",
            credenciais=encrypt_json(credentials),
            credenciais_hash="bench",
            config={},
            webhook_token="bench",
        )
        s.add(integ)
        s.flush()
        return sf, integ.id


def start_process(argv: list[str], ready: Callable[[str], str | None]) -> tuple[subprocess.Popen[str], str]:
    """Start ``argv`` and read its output until ``ready(line)`` gives the base URL (seeding a
    large sandbox takes minutes: up to 15 are allowed)."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"sandbox exited early (code {proc.poll()})")
        base_url = ready(line)
        if base_url:
            return proc, base_url
    raise RuntimeError("sandbox did not start in time")


def stop_process(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


def sandbox_requests(base_url: str) -> int:
    """Requests the sandbox has answered so far (its own count)."""
    return int(httpx.get(f"{base_url}/_sandbox/stats", timeout=30).json()["total_requests"])
