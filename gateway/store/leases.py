"""Leases on singleton duties: one row per duty, held by one replica until it expires.

Several replicas of a node over one PostgreSQL database each run the same
background duties; those that must run once (publishing audit checkpoints,
purging expired records, re-signing the directory) run only on the replica
holding the duty's lease. :meth:`LeaseRepository.acquire` is one atomic
statement whichever replica asks: it renews a lease its caller holds, takes
one that has expired, or creates one nobody holds; otherwise it changes
nothing. On SQLite a single process holds every lease.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, Engine, delete, or_, select, update

from gateway.store.engine import dialect_insert, using
from gateway.store.tables import LEASE

__all__ = ["LeaseRepository", "LeaseRow"]


@dataclass(frozen=True, slots=True)
class LeaseRow:
    name: str
    holder: str
    expires_at: int


class LeaseRepository:
    """The lease table."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def acquire(
        self, name: str, holder: str, *, now: int, ttl_s: int, conn: Connection | None = None
    ) -> bool:
        """Hold (or keep holding) lease ``name`` until ``now + ttl_s``; True if ``holder`` has it.

        Raises:
            StorageError: the database failed.
        """
        with using(self._engine, conn, f"acquiring lease {name}", write=True) as c:
            # A row lock serialises racing replicas: the loser re-reads the row and, finding
            # it held and current, updates nothing.
            renewed = c.execute(
                update(LEASE)
                .where(
                    LEASE.c.name == name,
                    or_(LEASE.c.holder == holder, LEASE.c.expires_at <= now),
                )
                .values(holder=holder, expires_at=now + ttl_s)
            )
            if renewed.rowcount == 1:
                return True
            created = c.execute(
                dialect_insert(c, LEASE)
                .values(name=name, holder=holder, expires_at=now + ttl_s)
                .on_conflict_do_nothing(index_elements=["name"])
                .returning(LEASE.c.name)
            )
            return created.first() is not None

    def release(self, name: str, holder: str, *, conn: Connection | None = None) -> bool:
        """Give up lease ``name`` if ``holder`` has it (a graceful stop); True if it did.

        Raises:
            StorageError: the database failed.
        """
        with using(self._engine, conn, f"releasing lease {name}", write=True) as c:
            gone = c.execute(delete(LEASE).where(LEASE.c.name == name, LEASE.c.holder == holder))
            return gone.rowcount == 1

    def get(self, name: str, *, conn: Connection | None = None) -> LeaseRow | None:
        """Who holds lease ``name`` and until when (held or expired); None if nobody ever did.

        Raises:
            StorageError: the database failed.
        """
        with using(self._engine, conn, f"reading lease {name}", write=False) as c:
            row = c.execute(select(LEASE).where(LEASE.c.name == name)).mappings().first()
        return None if row is None else LeaseRow(row["name"], row["holder"], row["expires_at"])
