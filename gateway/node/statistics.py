"""Keeping the store's planner statistics current, on a schedule (see gateway.store.statistics)."""

from __future__ import annotations

import structlog

from gateway.core.errors import GatewayError
from gateway.node.periodic import Periodic
from gateway.store import Store
from gateway.store.statistics import refresh_statistics

__all__ = ["STATISTICS_INTERVAL_S", "statistics_upkeep"]

log = structlog.get_logger("gateway.statistics")

STATISTICS_INTERVAL_S = 30.0
"""How often the node looks for tables whose statistics have gone stale (a cheap query)."""


def statistics_upkeep(
    node_id: str, store: Store, interval_s: float = STATISTICS_INTERVAL_S
) -> Periodic:
    """The (not yet started) task that analyses the store's changed tables (PostgreSQL)."""

    def step() -> None:
        try:
            analysed = refresh_statistics(store.engine)
        except GatewayError as exc:
            log.warning("refreshing statistics failed", error=type(exc).__name__, detail=str(exc))
            return
        if analysed:
            log.info("planner statistics refreshed", tables=analysed)

    return Periodic(f"statistics-{node_id}", step, interval_s)
