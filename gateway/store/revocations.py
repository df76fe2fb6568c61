"""Client certificates this node revoked: one row each, looked up on every call."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, select

from gateway.store.engine import dialect_insert, single_reads, using
from gateway.store.prepared import Prepared
from gateway.store.tables import REVOKED_CERTIFICATE

__all__ = ["RevocationRepository", "RevokedRow"]


@dataclass(frozen=True, slots=True)
class RevokedRow:
    fingerprint: str
    subject: str
    reason: str
    revoked_at: int
    revoked_by: str


# Every RPC reads it: compiled once, one statement without a transaction around it.
_GET = Prepared(
    select(*(REVOKED_CERTIFICATE.c[name] for name in (f.name for f in fields(RevokedRow)))).where(
        REVOKED_CERTIFICATE.c.fingerprint == bindparam("fingerprint")
    )
)


class RevocationRepository:
    """The revoked_certificate table."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._reads = single_reads(engine)

    def add(self, row: RevokedRow, *, conn: Connection | None = None) -> bool:
        """Note a revocation; False when the certificate was revoked already (kept as it was).

        Raises:
            StorageError: the database failed.
        """
        with using(self._engine, conn, "revoking a certificate", write=True) as c:
            stmt = (
                dialect_insert(c, REVOKED_CERTIFICATE)
                .values(
                    fingerprint=row.fingerprint,
                    subject=row.subject[:256],
                    reason=row.reason[:500],
                    revoked_at=row.revoked_at,
                    revoked_by=row.revoked_by[:160],
                )
                .on_conflict_do_nothing(index_elements=["fingerprint"])
                .returning(REVOKED_CERTIFICATE.c.fingerprint)
            )
            return c.execute(stmt).first() is not None

    def get(self, fingerprint: str, *, conn: Connection | None = None) -> RevokedRow | None:
        """The revocation of ``fingerprint``, or None; with ``conn``, read in its transaction.

        Raises:
            StorageError: the database failed.
        """
        params = {"fingerprint": fingerprint}
        found = self._reads.run(
            "reading a revocation", lambda c: _GET.execute(c, params).first(), conn=conn
        )
        if found is None:
            return None
        values: tuple[Any, ...] = tuple(found)
        return RevokedRow(*values)
