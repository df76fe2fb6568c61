"""``certificate.expiring``: logged once per certificate when it enters its warning window."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping

import structlog

from gateway.node.periodic import Periodic

__all__ = ["CERTIFICATE_CHECK_INTERVAL_S", "CertificateWatch"]

log = structlog.get_logger("gateway.certificates")

CERTIFICATE_CHECK_INTERVAL_S = 3600.0
"""How often a running node looks at its certificates' expiry again."""


class CertificateWatch:
    """Watches named certificates' ``not_after`` times against the clock.

    Args:
        not_after: certificate name (``tls``, ``signing``...) to its expiry, Unix seconds.
        warn_before_s: how long before expiry the warning is due.
        clock: Unix seconds now.
    """

    def __init__(
        self, not_after: Mapping[str, float], *, warn_before_s: float, clock: Callable[[], float]
    ) -> None:
        self._not_after = dict(not_after)
        self._warn_before_s = warn_before_s
        self._clock = clock
        self._warned: set[str] = set()

    def check(self) -> list[str]:
        """Log ``certificate.expiring`` for each certificate newly in its window; returns them."""
        now = self._clock()
        due = [
            name
            for name, expiry in sorted(self._not_after.items())
            if name not in self._warned and now >= expiry - self._warn_before_s
        ]
        for name in due:
            self._warned.add(name)
            expiry = self._not_after[name]
            log.warning(
                "certificate.expiring",
                certificate=name,
                not_after=dt.datetime.fromtimestamp(expiry, dt.UTC).isoformat(),
                days_left=round((expiry - now) / 86_400, 1),
            )
        return due

    def periodic(self, name: str, interval_s: float = CERTIFICATE_CHECK_INTERVAL_S) -> Periodic:
        """The (not yet started) task that checks now and then every ``interval_s``."""

        def step() -> None:
            self.check()

        return Periodic(name, step, interval_s)
