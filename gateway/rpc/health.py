"""The grpc.health.v1 service, reporting the node's readiness for every service it serves."""

from __future__ import annotations

from collections.abc import Sequence

from grpc_health.v1 import health, health_pb2

from gateway.node.readiness import ReadinessReport

__all__ = ["ReadinessHealth"]


class ReadinessHealth(health.HealthServicer):
    """A health servicer whose every service (and the server, ``""``) follows readiness.

    Until the first report every service is NOT_SERVING: a node is not ready
    before it has checked that it is.
    """

    def __init__(self, services: Sequence[str]) -> None:
        super().__init__()
        self._names = ("", *services)
        for name in self._names:
            self.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)

    def apply(self, report: ReadinessReport) -> None:
        """SERVING when ``report`` is ready, else NOT_SERVING, for every service."""
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if report.ready
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in self._names:
            self.set(name, status)
