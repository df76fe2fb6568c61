"""Singleton duties: background work that must run on one replica of a node at a time.

Replicas of a node share one database; some duties must not run twice at once
(publishing audit checkpoints, purging expired records, re-signing the
directory). Each such duty runs on the replica that holds its lease
(:class:`~gateway.store.leases.LeaseRepository`). A :class:`LeaseKeeper`
renews the leases of its replica every third of their time to live; a duty's
step runs only while the keeper's last renewal is still current by this
process's own clock, so a replica that stalls stops before its lease can pass
to another. When a replica dies its leases expire and a survivor takes them on
its next round: the duty moves with no operator action. On SQLite one process
holds every lease.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterable

import structlog

from gateway.core.errors import GatewayError
from gateway.node.periodic import Periodic
from gateway.store.leases import LeaseRepository

__all__ = ["LeaseKeeper", "singleton"]

log = structlog.get_logger("gateway.singleton")


class LeaseKeeper:
    """Holds this replica's leases on the named duties, renewing them in the background.

    Args:
        leases: the store's lease table.
        names: the duties whose leases this replica competes for.
        holder: this replica's name in the lease table (unique per process).
        ttl_s: a lease's time to live; renewed every ``ttl_s / 3``.
        clock: Unix seconds now (the lease times in the table).
        monotonic: this process's own clock, for how long a renewal is trusted.
    """

    def __init__(
        self,
        leases: LeaseRepository,
        names: Iterable[str],
        *,
        holder: str,
        ttl_s: int,
        clock: Callable[[], float],
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._leases = leases
        self._names = tuple(names)
        self.holder = holder
        self._ttl_s = ttl_s
        self._clock = clock
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._held_until: dict[str, float] = {}
        self._loop = Periodic(f"leases-{holder}", self.renew, max(0.1, ttl_s / 3))

    @classmethod
    def for_node(
        cls,
        leases: LeaseRepository,
        names: Iterable[str],
        *,
        node_id: str,
        ttl_s: int,
        clock: Callable[[], float],
    ) -> LeaseKeeper:
        """A keeper named after the node and this process (host-independent, never reused)."""
        return cls(
            leases, names, holder=f"{node_id}-{uuid.uuid4().hex[:12]}", ttl_s=ttl_s, clock=clock
        )

    def renew(self) -> None:
        """Acquire or renew every lease once; log each one gained or lost."""
        for name in self._names:
            started = self._monotonic()
            try:
                held = self._leases.acquire(
                    name, self.holder, now=int(self._clock()), ttl_s=self._ttl_s
                )
            except GatewayError as exc:
                held = False
                log.warning("lease.unreachable", lease=name, error=type(exc).__name__)
            with self._lock:
                had = name in self._held_until
                if held:
                    # Trusted for less than the table says: the renewal's own duration and a
                    # second of clock granularity come off, so this replica stops first.
                    self._held_until[name] = started + self._ttl_s - 1
                else:
                    self._held_until.pop(name, None)
            if held and not had:
                log.info("lease.acquired", lease=name, holder=self.holder)
            elif had and not held:
                log.warning("lease.lost", lease=name, holder=self.holder)

    def holds(self, name: str) -> bool:
        """True while this replica's last renewal of ``name`` is current."""
        with self._lock:
            return self._monotonic() < self._held_until.get(name, 0.0)

    def start(self) -> None:
        """Renew once now (duties started next find their leases decided), then keep renewing."""
        self.renew()
        self._loop.start()

    def stop(self) -> None:
        """Stop renewing and release every lease held, so a survivor takes over at once."""
        self._loop.stop()
        for name in self._names:
            with self._lock:
                self._held_until.pop(name, None)
            try:
                self._leases.release(name, self.holder)
            except GatewayError as exc:
                log.warning("lease.release_failed", lease=name, error=type(exc).__name__)


def singleton(keeper: LeaseKeeper, name: str, step: Callable[[], None]) -> Callable[[], None]:
    """``step``, run only while ``keeper`` holds lease ``name`` (otherwise nothing)."""

    def guarded() -> None:
        if keeper.holds(name):
            step()

    return guarded
