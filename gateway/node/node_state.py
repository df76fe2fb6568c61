"""Metrics read from a node's state at scrape time: store, audit log, directory, certificates.

Also the node's readiness (the monitor's last report) as gauges, so that an
alert can fire on "not ready" with the failing check named.

:class:`NodeStateCollector` is a Prometheus custom collector: nothing is
counted as the node runs; each scrape asks the store (one grouped query for the
outbox, one for the audit size, two for the checkpoints) and the in-memory
directory and certificates. A number that lives in the store is therefore the
store's number, the same on every replica over one PostgreSQL.

When the store cannot be read the store's families have no samples in that
scrape and ``gateway_store_up`` is 0: a scrape never fails because the database
did. Every family is described on every scrape, samples or not, so that the
names a dashboard or an alert uses can be checked against any running node.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

import structlog
from cryptography import x509
from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy.pool import QueuePool

from gateway.core.errors import GatewayError
from gateway.node.directory_watch import directory_expiring
from gateway.node.readiness import ReadinessReport
from gateway.node.trust import FederationTrust
from gateway.store import Store
from gateway.store.checkpoints import CheckpointRepository

__all__ = ["NodeStateCollector"]

log = structlog.get_logger("gateway.metrics")


class _StoreFamilies:
    """The families read from the store, described on every scrape even when empty."""

    def __init__(self) -> None:
        self.depth = GaugeMetricFamily(
            "gateway_outbox_depth", "Outbox rows still to deliver, by recipient.", labels=["peer"]
        )
        self.age = GaugeMetricFamily(
            "gateway_outbox_oldest_age_seconds",
            "Age of the oldest undelivered outbox row, by recipient.",
            labels=["peer"],
        )
        self.size = GaugeMetricFamily("gateway_audit_log_events", "Events in the audit log.")
        self.checkpoint = GaugeMetricFamily(
            "gateway_audit_checkpoint_age_seconds",
            "Seconds since this node published its latest audit checkpoint.",
        )
        self.cosignature = GaugeMetricFamily(
            "gateway_audit_cosignature_age_seconds",
            "Seconds since the parent last cosigned a checkpoint of this node "
            "(no sample at the national node or before the first cosignature).",
        )

    def all(self) -> tuple[GaugeMetricFamily, ...]:
        return (self.depth, self.age, self.size, self.checkpoint, self.cosignature)


@dataclass(frozen=True, eq=False)  # hashed by identity: the registry keys on it
class NodeStateCollector:
    """Gauges of one node's state, computed when Prometheus scrapes.

    Attributes:
        parent: the parent's node id, whose cosignature age is reported; None at
            the national node.
        certificates: (name, certificate) pairs whose expiry is reported.
        readiness: the node's last readiness report, shown as gauges.
    """

    parent: str | None
    store: Store
    checkpoints: CheckpointRepository
    trust: FederationTrust
    certificates: Sequence[tuple[str, x509.Certificate]]
    clock: Callable[[], float]
    readiness: Callable[[], ReadinessReport] | None = None
    directory_warning_s: float = 2 * 86_400.0
    """How long before the directory's expiry ``gateway_directory_expiring`` turns 1."""

    def collect(self) -> Iterable[Metric]:
        now = self.clock()
        store = _StoreFamilies()
        try:
            self._read_store(store, now)
            up = 1.0
        except GatewayError as exc:
            # Families described, without samples: a scrape never fails with the database.
            store = _StoreFamilies()
            log.warning("metrics.store_unreadable", error=type(exc).__name__, detail=str(exc))
            up = 0.0
        store_up = GaugeMetricFamily(
            "gateway_store_up", "1 if this scrape could read the store, else 0."
        )
        store_up.add_metric([], up)
        yield store_up
        yield from store.all()
        yield from self._readiness()
        yield from self._pool()
        yield from self._directory(now)
        yield self._certificates(now)

    def _read_store(self, families: _StoreFamilies, now: float) -> None:
        for peer, (count, oldest) in sorted(self.store.outbox.backlog().items()):
            families.depth.add_metric([peer], count)
            families.age.add_metric([peer], max(0.0, now - oldest))
        families.size.add_metric([], self.store.audit.size())
        latest = self.checkpoints.latest()
        if latest is not None:
            families.checkpoint.add_metric([], max(0.0, now - latest.published_at))
        cosigned_at = (
            self.checkpoints.last_cosigned_at(self.parent) if self.parent is not None else None
        )
        if cosigned_at is not None:
            families.cosignature.add_metric([], max(0.0, now - cosigned_at))

    def _readiness(self) -> Iterator[Metric]:
        if self.readiness is None:
            return
        report = self.readiness()
        ready = GaugeMetricFamily("gateway_ready", "1 if the node is ready (as /readyz), else 0.")
        ready.add_metric([], 1.0 if report.ready else 0.0)
        yield ready
        checks = GaugeMetricFamily(
            "gateway_readiness_check_ok",
            "1 if the readiness check passed at its last run, else 0, by check.",
            labels=["check"],
        )
        for result in report.results:
            checks.add_metric([result.name], 1.0 if result.ok else 0.0)
        yield checks

    def _pool(self) -> Iterator[Metric]:
        pool = self.store.engine.pool
        if not isinstance(pool, QueuePool):
            return
        connections = GaugeMetricFamily(
            "gateway_db_pool_connections",
            "Database connections of this process, by state (in_use or idle).",
            labels=["state"],
        )
        connections.add_metric(["in_use"], pool.checkedout())
        connections.add_metric(["idle"], pool.checkedin())
        yield connections
        size = GaugeMetricFamily(
            "gateway_db_pool_size", "Connections the pool keeps (more may overflow)."
        )
        size.add_metric([], pool.size())
        yield size

    def _directory(self, now: float) -> Iterator[Metric]:
        expiry = GaugeMetricFamily(
            "gateway_directory_expiry_seconds",
            "Seconds until the federation directory in force expires (negative: expired); "
            "no sample before the node has a directory.",
        )
        expiring = GaugeMetricFamily(
            "gateway_directory_expiring",
            "1 once the federation directory in force is within its warning window "
            "([directory] warning_days) or expired, else 0; no sample without a directory.",
        )
        directory = self.trust.held
        if directory is not None:
            expiry.add_metric([], directory.expires_at - now)
            warned = directory_expiring(directory, now, self.directory_warning_s)
            expiring.add_metric([], 1.0 if warned else 0.0)
        yield expiry
        yield expiring

    def _certificates(self, now: float) -> Metric:
        expiry = GaugeMetricFamily(
            "gateway_certificate_expiry_seconds",
            "Seconds until this node's certificate expires (negative: expired), by certificate.",
            labels=["certificate"],
        )
        for name, cert in self.certificates:
            expiry.add_metric([name], cert.not_valid_after_utc.timestamp() - now)
        return expiry
