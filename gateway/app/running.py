"""A started node and its graceful stop."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import grpc
import structlog

from gateway.app.check_frontends import CheckFrontends
from gateway.app.tasks import CHECKPOINTS_DUTY
from gateway.core.errors import GatewayError
from gateway.http import OperationsListener
from gateway.node.audit_log import CheckpointPublisher
from gateway.node.config import NodeConfig
from gateway.node.federation import FederationParts
from gateway.node.metrics import NodeMetrics
from gateway.node.peer_client import PeerClient
from gateway.node.periodic import Periodic
from gateway.node.readiness import ReadinessMonitor
from gateway.node.singleton import LeaseKeeper
from gateway.rpc.health import ReadinessHealth
from gateway.store import Store

__all__ = ["RunningNode"]

log = structlog.get_logger("gateway.node")


@dataclass
class RunningNode:
    """A started node."""

    config: NodeConfig
    server: grpc.Server
    port: int
    store: Store
    health: ReadinessHealth
    readiness: ReadinessMonitor
    peers: PeerClient
    publisher: CheckpointPublisher | None = None
    federation: FederationParts | None = None
    statistics: Periodic | None = None
    certificates: Periodic | None = None
    operations: OperationsListener | None = None
    publication: OperationsListener | None = None
    """The public publication feed (None when ``[publication] enabled`` is off)."""
    metrics: NodeMetrics = field(default_factory=NodeMetrics)
    directory_tasks: tuple[Periodic, ...] = ()
    """The directory's expiry watch, and at national its re-signing schedule."""
    duties: LeaseKeeper | None = None
    """This replica's leases on the singleton duties (checkpoints, expiry, re-signing)."""
    checkpoints: Periodic | None = None
    """The checkpoint publisher's schedule, run while this replica holds its lease."""
    frontends: CheckFrontends | None = None
    """The check frontend processes (``[check] frontends``), writing through this node."""
    _stopped: bool = field(default=False)

    def stop(self, grace_s: float | None = None) -> None:
        """Graceful shutdown: refuse new calls, finish in-flight ones, flush the writer."""
        if self._stopped:
            return
        self._stopped = True
        if self.operations is not None:
            self.operations.stop()
        if self.publication is not None:
            self.publication.stop()
        self.readiness.stop()
        self.health.enter_graceful_shutdown()
        grace = self.config.server.grace_s if grace_s is None else grace_s
        # The frontends drain beside the server; their checks still need the writer.
        frontends = threading.Thread(
            target=self.frontends.stop if self.frontends is not None else lambda _grace: None,
            args=(grace,),
            name="check-frontends-stop",
        )
        frontends.start()
        self.server.stop(grace).wait()
        frontends.join()
        if self.federation is not None:
            self.federation.stop()
        if self.checkpoints is not None:
            self.checkpoints.stop()
        for task in self.directory_tasks:
            task.stop()
        holds_checkpoints = self.duties is not None and self.duties.holds(CHECKPOINTS_DUTY)
        if self.publisher is not None and holds_checkpoints:
            # A last checkpoint covering every event, before the store closes.
            try:
                self.publisher.publish(final=True)
            except GatewayError as exc:
                log.warning("checkpoint.final_failed", error=type(exc).__name__, detail=str(exc))
        if self.duties is not None:
            self.duties.stop()
        self.peers.close()
        if self.statistics is not None:
            self.statistics.stop()
        if self.certificates is not None:
            self.certificates.stop()
        self.store.close()
        log.info("node.stopped", node=self.config.node_id)

    def wait(self) -> None:
        self.server.wait_for_termination()
