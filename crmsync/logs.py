"""Logging of long-running runtime processes (`worker`, `demo`): everything to stderr, at the
configured level, so stdout stays for what a person or a script reads."""

from __future__ import annotations

import logging

import structlog


def configure(level_name: str) -> None:
    level = logging.getLevelName(level_name.upper())
    if not isinstance(level, int):
        level = logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger().setLevel(level)
    for noisy in ("huey", "huey.consumer", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
    # Always (re)configure: structlog's default prints to stdout, and a library or test helper
    # (structlog.testing.capture_logs) may leave it marked configured with that default.
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="%Y-%m-%d %H:%M:%S"),
            structlog.dev.ConsoleRenderer(colors=False),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=False,
    )
