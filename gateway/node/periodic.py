"""A background thread that runs one step every few seconds until stopped."""

from __future__ import annotations

import threading
from collections.abc import Callable

__all__ = ["Periodic"]


class Periodic:
    """Runs ``step`` now and then every ``interval_s`` seconds, on a daemon thread.

    ``step`` handles its own expected errors; the loop only guarantees that a
    stop request is honoured between steps and while waiting.
    """

    def __init__(self, name: str, step: Callable[[], None], interval_s: float) -> None:
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
        while not self._stop.is_set():
            self._step()
            self._stop.wait(self._interval_s)
