"""Keeping the store's planner statistics current, on a schedule (see gateway.store.statistics)."""

from __future__ import annotations

import structlog

from gateway.core.errors import GatewayError
from gateway.node.periodic import Periodic
from gateway.store import Store
from gateway.store.statistics import refresh_statistics

__all__ = ["STATISTICS_INTERVAL_S", "StatisticsKeeper"]

log = structlog.get_logger("gateway.statistics")

STATISTICS_INTERVAL_S = 30.0
"""How often the node looks for tables whose statistics have gone stale (a cheap query)."""


class StatisticsKeeper:
    """Analyses the store's changed tables every ``interval_s`` seconds (PostgreSQL)."""

    def __init__(self, *, node_id: str, store: Store, interval_s: float) -> None:
        self._store = store
        self._loop = Periodic(f"statistics-{node_id}", self._step, interval_s)

    def start(self) -> None:
        self._loop.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._loop.stop(timeout_s)

    def _step(self) -> None:
        try:
            analysed = refresh_statistics(self._store.engine)
        except GatewayError as exc:
            log.warning("refreshing statistics failed", error=type(exc).__name__, detail=str(exc))
            return
        if analysed:
            log.info("planner statistics refreshed", tables=analysed)
