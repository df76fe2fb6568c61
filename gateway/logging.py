"""structlog set-up: JSON lines in production, readable in a terminal.

Context (``rpc``, ``peer``, ``record_id``) is bound with contextvars by the
interceptor and the use cases, never formatted into messages. Personal data is
never logged: identifiers appear only masked.

In production every line on stderr is one JSON object: structlog's own events,
the standard library's (alembic, grpc's Python side, warnings), uncaught
exceptions, and, once :func:`route_native_stderr` has run, what native code
such as gRPC's C-core writes on file descriptor 2.

Lifecycle events carry stable dotted names that operators alert on
(``node.started``, ``node.serving``, ``node.ready`` / ``node.not_ready``,
``node.stopped``, ``directory.refreshed``,
``certificate.expiring``, ``peer.unreachable``, ``peer.recovered``,
``checkpoint.cosigned``); each is logged once per transition, not per retry.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
from types import TracebackType
from typing import TextIO

import structlog

__all__ = ["LEVELS", "configure_logging", "get_logger", "route_native_stderr"]

LEVELS = ("debug", "info", "warning", "error")
"""The names ``--log-level`` accepts."""

# glog's prefix, as gRPC C-core (through absl) writes it:
# "E1205 18:10:50.299963    4022 add_port.cc:83] Failed to add port ..."
_NATIVE_LINE = re.compile(r"^([IWEF])\d{4} [\d:.]+\s+\d+ ([^\]\s]+)\] ?(.*)$")
_NATIVE_LEVELS = {"I": "info", "W": "warning", "E": "error", "F": "critical"}
_routed = threading.Lock()
_native_routed = False
_settings: tuple[bool, str] | None = None


# What Alembic logs at info each time a migration context is made: the readiness
# check makes one every few seconds to read the schema's revision.
_ALEMBIC_CONTEXT_LINES = frozenset({"Context impl %s.", "Will assume %s DDL."})


def _not_alembic_context_line(record: logging.LogRecord) -> bool:
    return not (isinstance(record.msg, str) and record.msg in _ALEMBIC_CONTEXT_LINES)


def _shared_processors() -> list[structlog.types.Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def configure_logging(*, json: bool | None = None, level: str = "info") -> None:
    """Configure structlog and the standard library root logger, both onto stderr.

    Args:
        json: JSON lines when True, coloured console when False; by default
            JSON unless stderr is a terminal.
        level: minimum level name, one of :data:`LEVELS` (any case).
    """
    global _settings  # noqa: PLW0603 - logging is process-wide; children ask for it
    use_json = (not sys.stderr.isatty()) if json is None else json
    _settings = (use_json, level)
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if use_json
        else structlog.dev.ConsoleRenderer()
    )
    number = logging.getLevelNamesMapping()[level.upper()]
    structlog.configure(
        processors=[
            *_shared_processors(),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(number),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    # Other libraries log through the standard library: same renderer, same stream.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *_shared_processors()],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(number)
    logging.captureWarnings(True)
    # Two lines per readiness check (every 5 s by default) that say nothing: the
    # migrations' own lines ("Running upgrade ...") still come through.
    logging.getLogger("alembic.runtime.migration").addFilter(_not_alembic_context_line)
    if use_json:
        sys.excepthook = _log_uncaught
        threading.excepthook = _log_thread_crash


def logging_settings() -> tuple[bool, str]:
    """How this process logs: (JSON, level), for a child process to log the same way."""
    return _settings if _settings is not None else (not sys.stderr.isatty(), "info")


def _log_uncaught(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    structlog.get_logger("gateway").critical("process.crashed", exc_info=(kind, exc, tb))


def _log_thread_crash(args: threading.ExceptHookArgs) -> None:
    if args.exc_value is None or args.exc_type is SystemExit:
        return
    structlog.get_logger("gateway").error(
        "thread.crashed",
        thread=None if args.thread is None else args.thread.name,
        exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
    )


def route_native_stderr() -> None:
    """Send what native code writes on file descriptor 2 through the logger, line by line.

    gRPC's C-core (through absl) writes plain glog lines straight to fd 2,
    beside Python. Afterwards fd 2 is a pipe read by a daemon thread that logs
    each line as a ``grpc.native`` event at the line's own level, and Python's
    ``sys.stderr`` is the original stream. Call it once, before
    :func:`configure_logging`, which binds the loggers to ``sys.stderr``.
    """
    global _native_routed  # noqa: PLW0603 - fd 2 is process-wide; route it once
    with _routed:
        if _native_routed:
            return
        _native_routed = True
        sys.stderr.flush()
        original = os.dup(2)
        # Lives as long as the process: Python's own writes keep the real stderr.
        sys.stderr = os.fdopen(
            original, "w", encoding="utf-8", errors="backslashreplace", buffering=1
        )
        read_end, write_end = os.pipe()
        os.dup2(write_end, 2)
        os.close(write_end)
        threading.Thread(target=_relay, args=(read_end,), name="native-stderr", daemon=True).start()


def _relay(read_end: int) -> None:
    log = structlog.get_logger("grpc.native")
    pipe: TextIO
    with os.fdopen(read_end, encoding="utf-8", errors="replace") as pipe:
        for raw in pipe:
            line = raw.rstrip("\n")
            if not line.strip():
                continue
            match = _NATIVE_LINE.match(line)
            if match is None:
                log.warning("grpc.native", message=line)
                continue
            letter, source, message = match.groups()
            getattr(log, _NATIVE_LEVELS[letter])("grpc.native", source=source, message=message)


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """A logger bound with the module name."""
    logger: structlog.stdlib.BoundLogger = structlog.get_logger(name)
    return logger
