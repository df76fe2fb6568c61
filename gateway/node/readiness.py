"""Whether a node is fit to serve: its store, its schema, its directory, its certificates.

:class:`Readiness` runs named checks, each a function that raises a
:class:`~gateway.core.errors.GatewayError` saying what is wrong, and reports
them all. :class:`ReadinessMonitor` runs them every few seconds on a thread of
its own, keeps the last report (probes read it without touching the database),
logs every change with its reasons and tells a listener: the gRPC health
service, and any other probe (an HTTP ``/readyz``) that wants it.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import structlog
from cryptography import x509

from gateway.core.errors import ExpiredError
from gateway.node.periodic import Periodic
from gateway.store import Store
from gateway.store.health import check_files_writable, check_revision_current, schema_revision

__all__ = [
    "CheckResult",
    "Readiness",
    "ReadinessCheck",
    "ReadinessMonitor",
    "ReadinessReport",
    "node_readiness",
]

log = structlog.get_logger("gateway.readiness")

ReadinessCheck = Callable[[], object]
"""Raises (a GatewayError, or whatever a fault throws) when something is wrong."""


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One check's outcome: ``reason`` is None when it passed."""

    name: str
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.reason is None


@dataclass(frozen=True, slots=True)
class ReadinessReport:
    """Every check's outcome, in the order the checks were given."""

    results: tuple[CheckResult, ...]

    @property
    def ready(self) -> bool:
        return all(r.ok for r in self.results)

    @property
    def failures(self) -> tuple[CheckResult, ...]:
        return tuple(r for r in self.results if not r.ok)

    def summary(self) -> str:
        """``ready``, or each failed check with its reason (``store: ...; directory: ...``)."""
        if self.ready:
            return "ready"
        return "; ".join(f"{r.name}: {r.reason}" for r in self.failures)


class Readiness:
    """Named checks run together; one failing makes the node not ready."""

    def __init__(self, checks: Mapping[str, ReadinessCheck]) -> None:
        self._checks = dict(checks)

    def check(self) -> ReadinessReport:
        """Run every check; never raises (a check's failure is its reason)."""
        results: list[CheckResult] = []
        for name, check in self._checks.items():
            try:
                check()
            except Exception as exc:  # noqa: BLE001 - any fault makes the node not ready
                results.append(CheckResult(name, str(exc) or type(exc).__name__))
            else:
                results.append(CheckResult(name))
        return ReadinessReport(tuple(results))


def _certificates_valid(
    certificates: Sequence[tuple[str, x509.Certificate]], clock: Callable[[], float]
) -> ReadinessCheck:
    def check() -> None:
        now = dt.datetime.fromtimestamp(clock(), dt.UTC)
        for name, cert in certificates:
            if now < cert.not_valid_before_utc:
                raise ExpiredError(f"{name} is valid only from {cert.not_valid_before_utc}")
            if now >= cert.not_valid_after_utc:
                raise ExpiredError(f"{name} expired at {cert.not_valid_after_utc}")

    return check


def node_readiness(
    *,
    store: Store,
    database_url: str,
    directory: ReadinessCheck,
    certificates: Sequence[tuple[str, x509.Certificate]],
    clock: Callable[[], float],
) -> Readiness:
    """A node's readiness: store reachable and writable, schema current, directory, certificates.

    Args:
        directory: returns the directory in force or raises (none yet, expired).
        certificates: (name, certificate) pairs that must be valid now.
    """

    # One read of the database per round: the store check reads the schema
    # revision and the schema check compares it. Two reads could straddle a
    # server going down and blame the schema for a connection the store lost.
    revision: list[frozenset[str]] = []

    def store_reachable() -> None:
        revision.clear()
        # Files first: a read through a mapped -shm the process may not write is a SIGBUS.
        check_files_writable(database_url)
        revision.append(schema_revision(store.engine))

    def schema_current() -> None:
        # Unknown while the store is unreachable: the store check says why.
        if revision:
            check_revision_current(revision[0])

    return Readiness(
        {
            "store": store_reachable,
            "schema": schema_current,
            "directory": directory,
            "certificates": _certificates_valid(certificates, clock),
        }
    )


class ReadinessMonitor:
    """Re-checks readiness every ``interval_s`` seconds and reports changes."""

    def __init__(
        self,
        readiness: Readiness,
        *,
        name: str,
        interval_s: float,
        on_change: Callable[[ReadinessReport], None],
    ) -> None:
        self._readiness = readiness
        self._on_change = on_change
        self._lock = threading.Lock()
        self._report: ReadinessReport | None = None
        self._loop = Periodic(f"readiness-{name}", self._step, interval_s)

    @property
    def report(self) -> ReadinessReport:
        """The last report (checking now if there is none yet)."""
        report = self._report
        return report if report is not None else self.refresh()

    def refresh(self) -> ReadinessReport:
        """Check now; log and report a change of readiness or of its reasons."""
        report = self._readiness.check()
        with self._lock:
            previous, self._report = self._report, report
        if previous is None or previous.summary() != report.summary():
            if report.ready:
                log.info("node.ready")
            else:
                log.warning(
                    "node.not_ready",
                    reasons={r.name: r.reason for r in report.failures},
                )
            self._on_change(report)
        return report

    def _step(self) -> None:
        self.refresh()

    def start(self) -> None:
        self._loop.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._loop.stop(timeout_s)
