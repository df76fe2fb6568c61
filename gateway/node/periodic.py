"""A background thread that runs one step every few seconds until stopped."""

from __future__ import annotations

import threading
from collections.abc import Callable

import structlog

__all__ = ["Periodic", "backoff_s"]

log = structlog.get_logger("gateway.loop")

_MAX_BACKOFF_S = 60.0


def backoff_s(interval_s: float, failures: int) -> float:
    """How long a loop waits after ``failures`` failed rounds in a row: doubling, capped.

    The cap is a minute, or the loop's own interval if that is longer.
    """
    if failures <= 0:
        return interval_s
    return min(interval_s * 2.0 ** min(failures, 16), max(interval_s, _MAX_BACKOFF_S))


class Periodic:
    """Runs ``step`` now and then every ``interval_s`` seconds, on a daemon thread.

    ``step`` handles its own expected errors. Anything else it raises is logged
    with the loop's name and the loop goes on after a growing pause: only
    :meth:`stop` ends it. A stop request is honoured between steps and while waiting.
    """

    def __init__(self, name: str, step: Callable[[], None], interval_s: float) -> None:
        self._name = name
        self._step = step
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                self._step()
            except Exception:
                # A bug in one round must not end the loop: logged, backed off, retried.
                failures += 1
                log.exception("loop.failed", loop=self._name, failures=failures)
            else:
                failures = 0
            self._stop.wait(backoff_s(self._interval_s, failures))
