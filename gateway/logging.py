"""structlog set-up: JSON lines in production, readable in a terminal.

Context (``rpc``, ``peer``, ``record_id``) is bound with contextvars by the
interceptor and the use cases, never formatted into messages. Personal data is
never logged: identifiers appear only masked.
"""

from __future__ import annotations

import logging
import sys

import structlog

__all__ = ["configure_logging", "get_logger"]


def configure_logging(*, json: bool | None = None, level: str = "INFO") -> None:
    """Configure structlog and the standard library root logger.

    Args:
        json: JSON lines when True, coloured console when False; by default
            JSON unless stderr is a terminal.
        level: minimum level name.
    """
    use_json = (not sys.stderr.isatty()) if json is None else json
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if use_json
        else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """A logger bound with the module name."""
    logger: structlog.stdlib.BoundLogger = structlog.get_logger(name)
    return logger
