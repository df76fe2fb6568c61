"""``directory.expiring`` and ``directory.expired``: every node warns before its directory lapses.

A node works on the directory it holds until that expires, then refuses every
peer (fail closed) and keeps its outbox until a fresh directory arrives. The
national node re-signs before expiry (``[directory] resign_before_days``), so a
warning means that chain broke somewhere: national did not re-sign, or this
node cannot reach its parent to fetch the new one. The same window marks the
``gateway_directory_expiring`` gauge and ``gateway status``
(:func:`directory_expiring`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import structlog

from gateway.core.directory import Directory
from gateway.node.periodic import Periodic

__all__ = ["DIRECTORY_CHECK_INTERVAL_S", "DirectoryWatch", "directory_expiring"]

log = structlog.get_logger("gateway.directory")

DIRECTORY_CHECK_INTERVAL_S = 60.0
"""How often a running node looks at its directory's expiry."""


def directory_expiring(directory: Directory | None, now: float, warn_before_s: float) -> bool:
    """True if ``directory`` expires within ``warn_before_s`` of ``now`` (or has expired).

    No directory at all is not "expiring": readiness reports that one.
    """
    return directory is not None and now >= directory.expires_at - warn_before_s


class DirectoryWatch:
    """Logs once per directory serial when it enters its warning window and when it expires.

    Args:
        held: the directory held (expired or not), None before the first.
        warn_before_s: how long before expiry the warning is due.
        clock: Unix seconds now.
    """

    def __init__(
        self,
        held: Callable[[], Directory | None],
        *,
        warn_before_s: float,
        clock: Callable[[], float],
    ) -> None:
        self._held = held
        self._warn_before_s = warn_before_s
        self._clock = clock
        self._warned: set[tuple[int, str]] = set()

    def check(self) -> str | None:
        """Log what is newly due for the directory held; returns the event logged, if any."""
        directory = self._held()
        now = self._clock()
        if directory is None or not directory_expiring(directory, now, self._warn_before_s):
            return None
        event = "directory.expired" if now >= directory.expires_at else "directory.expiring"
        if (directory.serial, event) in self._warned:
            return None
        self._warned.add((directory.serial, event))
        fields = {
            "serial": directory.serial,
            "expires_at": dt.datetime.fromtimestamp(directory.expires_at, dt.UTC).isoformat(),
            "hours_left": round((directory.expires_at - now) / 3_600, 1),
        }
        if event == "directory.expired":
            log.error(event, **fields)
        else:
            log.warning(event, **fields)
        return event

    def periodic(self, name: str, interval_s: float = DIRECTORY_CHECK_INTERVAL_S) -> Periodic:
        """The (not yet started) task that checks now and then every ``interval_s``."""

        def step() -> None:
            self.check()

        return Periodic(name, step, interval_s)
