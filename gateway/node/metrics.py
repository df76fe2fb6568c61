"""A node's Prometheus metrics: one registry per node, counters for events only.

Each node owns a :class:`NodeMetrics` with its own ``CollectorRegistry`` (never
the process-global one, so two nodes in one process or one test never mix
their numbers). Counters here count *events* that leave no countable trace in
the store (an RPC answered, a record refused, a push attempt); whatever the
store already holds (outbox depth, audit size, checkpoints) is read at scrape
time by :class:`~gateway.node.node_state.NodeStateCollector` instead.

Every name starts with ``gateway_``. Label values are bounded: services and
methods come from the proto descriptors, codes from ``grpc.StatusCode``,
reasons are error class names, peers are region codes of the directory.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.registry import Collector

from gateway.core.batch_items import ReceiveResult
from gateway.core.errors import PeerError, PeerUnavailableError
from gateway.node.audit_log import CosignReply, CosignRequest, WitnessStatement
from gateway.node.peer_client import HolderView, HopBatch, PeerClient
from gateway.node.trust import SignedDirectoryFile

__all__ = ["RECORD_SOURCES", "CountingPeerClient", "NodeMetrics"]

RECORD_SOURCES = ("intake", "push", "pull")
"""Where records come from: a department's submission, a peer's push, a pull from the parent."""

# From a local lookup (~1 ms) to a large batch over a slow link (~30 s).
_RPC_BUCKETS_S = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)


def _split_method(full_method: str) -> tuple[str, str]:
    """``/gateway.v1.Records/Get`` -> (``gateway.v1.Records``, ``Get``)."""
    service, _, method = full_method.lstrip("/").rpartition("/")
    return service, method


class NodeMetrics:
    """The event counters of one node, and the registry its collectors join."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self._rpcs = Counter(
            "gateway_rpc_handled",
            "RPCs answered, by service, method and gRPC status code.",
            ["service", "method", "code"],
            registry=registry,
        )
        self._rpc_seconds = Histogram(
            "gateway_rpc_duration_seconds",
            "Time from the interceptor's admission to the last response, by service and method.",
            ["service", "method"],
            buckets=_RPC_BUCKETS_S,
            registry=registry,
        )
        self._received = Counter(
            "gateway_records_received",
            "Records offered to this node, before any check, by source.",
            ["source"],
            registry=registry,
        )
        self._stored = Counter(
            "gateway_records_stored",
            "Records (or new versions) stored, by source; duplicates are not counted.",
            ["source"],
            registry=registry,
        )
        self._refused = Counter(
            "gateway_records_refused",
            "Records refused, by source and reason (the error's class name).",
            ["source", "reason"],
            registry=registry,
        )
        self._pushes = Counter(
            "gateway_push_batches",
            "Hop batches a peer acknowledged, by peer.",
            ["peer"],
            registry=registry,
        )
        self._push_failures = Counter(
            "gateway_push_failures",
            "Push attempts that failed, by peer and reason (unavailable: retried; refused: final).",
            ["peer", "reason"],
            registry=registry,
        )
        self._checks = Counter(
            "gateway_checks",
            "Subject checks answered, by decision and departmental domain.",
            ["decision", "domain"],
            registry=registry,
        )
        self._publication = Counter(
            "gateway_publication_requests",
            "Reads of the public publication feed, by endpoint and HTTP status (not audited).",
            ["endpoint", "status"],
            registry=registry,
        )
        for source in RECORD_SOURCES:
            # Present from the first scrape, so rate() sees the first increment.
            self._received.labels(source)
            self._stored.labels(source)

    def publication_read(self, endpoint: str, status: int) -> None:
        """Count one read of the publication feed."""
        self._publication.labels(endpoint, str(status)).inc()

    def register(self, collector: Collector) -> None:
        """Add a scrape-time collector to this node's registry."""
        self.registry.register(collector)

    def rpc_handled(self, full_method: str, code: str, seconds: float) -> None:
        """Count one answered RPC (``code`` is a ``grpc.StatusCode`` name) and its duration."""
        service, method = _split_method(full_method)
        self._rpcs.labels(service, method, code).inc()
        self._rpc_seconds.labels(service, method).observe(seconds)

    def records_received(self, source: str, count: int) -> None:
        self._received.labels(source).inc(count)

    def records_stored(self, source: str, count: int) -> None:
        self._stored.labels(source).inc(count)

    def records_refused(self, source: str, reason: str, count: int = 1) -> None:
        self._refused.labels(source, reason).inc(count)

    @contextmanager
    def refusals(self, source: str, count: int) -> Iterator[None]:
        """Count ``count`` records as refused if the block raises, by the error's class name."""
        try:
            yield
        except Exception as exc:
            self.records_refused(source, type(exc).__name__, count)
            raise

    def push_succeeded(self, peer: str) -> None:
        self._pushes.labels(peer).inc()

    def push_failed(self, peer: str, reason: str) -> None:
        self._push_failures.labels(peer, reason).inc()

    def check_answered(self, decision: str, domain: str) -> None:
        self._checks.labels(decision, domain).inc()


@dataclass(frozen=True, slots=True)
class CountingPeerClient:
    """A :class:`~gateway.node.peer_client.PeerClient` that counts pushes and their failures.

    Every push attempt is counted, retries included: a peer that is down shows as
    a rising ``gateway_push_failures_total{reason="unavailable"}``.
    """

    peers: PeerClient
    metrics: NodeMetrics

    def push(self, peer: str, batch: HopBatch, *, timeout_s: float) -> ReceiveResult:
        try:
            result = self.peers.push(peer, batch, timeout_s=timeout_s)
        except PeerUnavailableError:
            self.metrics.push_failed(peer, "unavailable")
            raise
        except PeerError:
            self.metrics.push_failed(peer, "refused")
            raise
        self.metrics.push_succeeded(peer)
        return result

    def pull(self, peer: str, after: int, *, timeout_s: float) -> Iterator[HopBatch]:
        return self.peers.pull(peer, after, timeout_s=timeout_s)

    def holders(self, peer: str, record_id: str, *, timeout_s: float) -> list[HolderView]:
        return self.peers.holders(peer, record_id, timeout_s=timeout_s)

    def directory(self, peer: str, *, timeout_s: float) -> SignedDirectoryFile:
        return self.peers.directory(peer, timeout_s=timeout_s)

    def witness(self, peer: str, request: CosignRequest, *, timeout_s: float) -> CosignReply:
        return self.peers.witness(peer, request, timeout_s=timeout_s)

    def witnessed(self, peer: str, *, timeout_s: float) -> WitnessStatement:
        return self.peers.witnessed(peer, timeout_s=timeout_s)

    def close(self) -> None:
        self.peers.close()
