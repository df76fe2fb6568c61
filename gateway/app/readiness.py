"""A serving process's readiness, wired once for the node and its check frontends."""

from __future__ import annotations

from collections.abc import Callable

from gateway.node.config import NodeConfig
from gateway.node.readiness import ReadinessMonitor, ReadinessReport, node_readiness
from gateway.node.trust import FederationTrust
from gateway.pki import ServingCredentials
from gateway.store import Store

__all__ = ["readiness_monitor"]


def readiness_monitor(
    config: NodeConfig,
    *,
    store: Store,
    trust: FederationTrust,
    credentials: ServingCredentials,
    clock: Callable[[], float],
    name: str,
    on_change: Callable[[ReadinessReport], None],
) -> ReadinessMonitor:
    """The readiness of a process serving ``config``'s node (not started): the store,
    the directory in force and the certificates it serves and signs under."""
    return ReadinessMonitor(
        node_readiness(
            store=store,
            database_url=config.database,
            directory=trust.directory,
            certificates=[
                ("signing certificate", credentials.signing_cert),
                ("TLS certificate", credentials.tls_cert),
            ],
            clock=clock,
        ),
        name=name,
        interval_s=config.server.readiness_interval_s,
        on_change=on_change,
    )
