"""A node's HTTP listeners: operations (health, readiness, metrics) and publication."""

from __future__ import annotations

from collections.abc import Callable

from gateway.http import OperationsListener, operations_app
from gateway.http.publication import publication_app
from gateway.node.config import NodeConfig
from gateway.node.metrics import NodeMetrics
from gateway.node.node_state import NodeStateCollector
from gateway.node.publication import PublicationFeed
from gateway.node.quality_metrics import QualityCollector
from gateway.node.readiness import ReadinessMonitor
from gateway.node.trust import SignedDirectoryFile

__all__ = ["start_http"]


def start_http(
    config: NodeConfig,
    metrics: NodeMetrics,
    state: NodeStateCollector,
    quality: QualityCollector,
    readiness: ReadinessMonitor,
    *,
    feed: PublicationFeed,
    directory: Callable[[], SignedDirectoryFile | None],
) -> tuple[OperationsListener, OperationsListener | None]:
    """Serve /healthz, /readyz (the same readiness as gRPC health) and /metrics over HTTP,
    and the public publication feed on its own port (unless ``[publication] enabled`` is off).

    Raises:
        ConfigurationError: ``[operations] listen`` or ``[publication] listen`` cannot be bound.
    """
    metrics.register(state)
    metrics.register(quality)
    operations = OperationsListener(
        operations_app(registry=metrics.registry, readiness=lambda: readiness.report),
        listen=config.operations.listen,
    )
    publication = None
    if config.publication.enabled:
        try:
            publication = OperationsListener(
                publication_app(feed=feed, directory=directory, count=metrics.publication_read),
                listen=config.publication.listen,
                name="publication",
            )
        except BaseException:
            operations.stop()
            raise
        publication.start()
    operations.start()
    return operations, publication
