"""The operations application: ``/healthz``, ``/readyz`` and ``/metrics``.

- ``/healthz`` is liveness: the process answers. It never looks at the
  database, so an orchestrator does not restart a node for an outage it cannot
  cure by restarting.
- ``/readyz`` is readiness: 200 with ``{"status": "ready"}``, or 503 with each
  failed check and its reason (``{"status": "not ready", "reasons": {"store":
  "..."}}``). It shows the last report of the node's one
  :class:`~gateway.node.readiness.ReadinessMonitor`, the one the gRPC health
  service follows: both always say the same.
- ``/metrics`` is the node's own Prometheus registry, in the text format or
  OpenMetrics as the scraper's ``Accept`` header asks.

The handlers are plain functions: Starlette runs them on its thread pool, so a
slow database read during a scrape never blocks the event loop.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.node.readiness import ReadinessReport

__all__ = ["operations_app"]


def operations_app(
    *, registry: CollectorRegistry, readiness: Callable[[], ReadinessReport]
) -> Starlette:
    """The operations endpoints of one node.

    Args:
        registry: the node's own metrics registry.
        readiness: returns the node's current readiness report.
    """

    def healthz(_request: Request) -> Response:
        return JSONResponse({"status": "live"})

    def readyz(_request: Request) -> Response:
        report = readiness()
        if report.ready:
            return JSONResponse({"status": "ready"})
        reasons = {f.name: f.reason or "failed" for f in report.failures}
        return JSONResponse({"status": "not ready", "reasons": reasons}, status_code=503)

    def metrics(request: Request) -> Response:
        encode, content_type = choose_encoder(request.headers.get("accept", ""))
        return Response(encode(registry), media_type=content_type)

    return Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
        ]
    )
