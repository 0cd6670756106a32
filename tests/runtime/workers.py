"""Start and stop real `crmsync worker` processes for the scale-out and chaos tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

WORKER_CODE = "from crmsync.cli import app; app()"


class WorkerProcess:
    """`crmsync worker` in a subprocess with the test's environment; output goes to a file."""

    def __init__(
        self, env: dict[str, str], log_dir: Path, name: str, concurrency: int = 2, scheduler: bool = True
    ) -> None:
        self.env = {**os.environ, **env}
        self.log_path = log_dir / f"{name}.log"
        self.args = [sys.executable, "-c", WORKER_CODE, "worker", "--concurrency", str(concurrency)]
        if not scheduler:
            self.args.append("--no-scheduler")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(self.args, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def kill(self) -> None:
        """SIGKILL: no clean-up at all, like a power cut or the OOM killer."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)

    def terminate(self, timeout: float = 60) -> int:
        """SIGTERM (graceful) and wait for the exit code."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
