"""A sandbox (GestãoClick or SuiteCRM) run as ``python -m crmsync.sandbox`` in its own process
until Ctrl-C, as a user runs it (`crmsync serve` in its own process: tests/api_load/server.py)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

# The sandbox exits in about 1 s; on a loaded machine its interpreter teardown (every module
# that `python -m crmsync.sandbox` imported) can take many times that. The wait ends as soon
# as it exits: the deadline only bounds a hang.
EXIT_DEADLINE = 120

_URL = re.compile(r"(http://127\.0\.0\.1:\d+)")


@dataclass
class SandboxProcess:
    """A running ``python -m crmsync.sandbox``: what it printed up to its Ctrl-C line."""

    proc: subprocess.Popen[str]
    lines: list[str]
    base_url: str

    @property
    def output(self) -> str:
        return "".join(self.lines)


def _ctrl_c_as_a_terminal_gives_it() -> None:
    """SIGINT back to its default in the child: a test run started in the background (`nohup`,
    `cmd &` in a script, a CI runner) has SIGINT ignored, the child inherits that, and Python
    then never raises KeyboardInterrupt, so the sandbox would ignore the test's Ctrl-C."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@contextmanager
def sandbox_process(*args: str) -> Iterator[SandboxProcess]:
    """``python -m crmsync.sandbox ARGS`` as a separate process, yielded once it has printed its
    banner (up to the "Ctrl-C" line); on leaving the block it gets Ctrl-C and must exit 0."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "crmsync.sandbox", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        preexec_fn=_ctrl_c_as_a_terminal_gives_it,
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline()]
        while "Ctrl-C" not in lines[-1] and lines[-1]:  # "" is the end of its output: it died
            lines.append(proc.stdout.readline())
        output = "".join(lines)
        match = _URL.search(output)
        assert match and lines[-1], output + (proc.stderr.read() if proc.stderr and proc.poll() is not None else "")
        yield SandboxProcess(proc, lines, match.group(1))
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=EXIT_DEADLINE) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def run_side_by_side(argv: list[str], env: dict[str, str], count: int = 2, timeout: float = 120) -> list[str]:
    """`count` copies of `argv` started together, each in its own process (a race between
    processes), waited for; each must exit 0. Their standard outputs, in start order."""
    procs = [
        subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for _ in range(count)
    ]
    outputs = [p.communicate(timeout=timeout) for p in procs]
    for p, (_out, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err[-2000:]
    return [out for out, _err in outputs]
