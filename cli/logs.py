"""structlog setup: console on a terminal, JSON otherwise, always to stderr."""

from __future__ import annotations

import logging
import sys
from typing import Literal

import structlog

LogFormat = Literal["auto", "console", "json"]
LEVELS = ("debug", "info", "warning", "error")


def configure_logging(fmt: LogFormat = "auto", level: str = "info") -> None:
    """Route structlog to stderr; ``auto`` picks the console renderer only on a terminal."""
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    console = fmt == "console" or (fmt == "auto" and sys.stderr.isatty())
    if console:
        processors = shared + [structlog.dev.ConsoleRenderer()]
    else:
        processors = shared + [structlog.processors.dict_tracebacks, structlog.processors.JSONRenderer(ensure_ascii=False)]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper())),
        # A factory rather than a bound stream: tests swap sys.stderr between invocations.
        logger_factory=_StderrLoggerFactory(),
        cache_logger_on_first_use=False,
    )


class _StderrLoggerFactory:
    """Print loggers that look up ``sys.stderr`` when created, not at import time."""

    def __call__(self, *args: object) -> structlog.PrintLogger:
        return structlog.PrintLogger(file=sys.stderr)
