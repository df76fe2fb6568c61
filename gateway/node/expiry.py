"""Expiry: every node purges records past their signed ``exp`` on its own, on a schedule.

Queries and pushes already refuse expired records (they check ``exp`` against
the clock); the sweeper then removes the disclosures, leaving a tombstone
(id, version, status ``expired``, no personal data), and audits the purge.
"""

from __future__ import annotations

from collections.abc import Callable

import structlog
from sqlalchemy import Connection

from gateway.core.audit import Decision, event_by_node, record_refs
from gateway.core.errors import GatewayError
from gateway.node.periodic import Periodic
from gateway.store import RecordKey, RecordStatus, Store

__all__ = ["ExpirySweeper"]

log = structlog.get_logger("gateway.expiry")


class ExpirySweeper:
    """Purges expired records in batches every ``interval_s`` seconds."""

    def __init__(
        self,
        *,
        node_id: str,
        store: Store,
        clock: Callable[[], int],
        interval_s: float,
        batch: int = 500,
        may_run: Callable[[], bool] = lambda: True,
    ) -> None:
        self._node_id = node_id
        self._may_run = may_run
        self._store = store
        self._clock = clock
        self._batch = batch
        self._loop = Periodic(f"expiry-{node_id}", self._step, interval_s)

    def start(self) -> None:
        self._loop.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._loop.stop(timeout_s)

    def _step(self) -> None:
        if not self._may_run():
            # Another replica over the same database holds the sweep's lease.
            return
        try:
            self.sweep()
        except GatewayError as exc:
            log.warning("expiry sweep failed", error=type(exc).__name__, detail=str(exc))

    def sweep(self) -> int:
        """Purge every record version whose ``exp`` has passed; returns how many."""
        total = 0
        while not self._loop.stopping:
            now = self._clock()
            keys = self._store.records.expired_before(now, limit=self._batch)
            if not keys:
                break
            self._store.writer.submit(self._purger(keys, now)).result()
            total += len(keys)
        if total:
            log.info("expired records purged", count=total)
        return total

    def _purger(self, keys: list[RecordKey], now: int) -> Callable[[Connection], None]:
        return lambda conn: self._purge(conn, keys, now)

    def _purge(self, conn: Connection, keys: list[RecordKey], now: int) -> None:
        for record_id, version in keys:
            self._store.records.purge(
                record_id, version, RecordStatus.EXPIRED.value, now, conn=conn
            )
        self._store.audit.append(
            [
                event_by_node(
                    self._node_id,
                    time=now,
                    action="records.expire",
                    decision=Decision.ALLOWED,
                    records=record_refs(keys),
                    detail=f"{len(keys)} purged at the end of their disclosure period",
                )
            ],
            conn=conn,
        )
