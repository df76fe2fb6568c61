"""Audit checkpoints: those this node published with their cosignatures, and those it witnessed.

A node keeps every checkpoint it signed (by tree size) and every cosignature
its parent returned, with the parent's signing certificate chain, so an auditor
can check the whole history from this node alone. A parent keeps each child
checkpoint it cosigned, per epoch of the child's log (``gateway.core.log_epoch``);
the largest of the latest epoch is the one the child's next checkpoint must be
consistent with.

:class:`LogEntries` reads the audit log's leaves *unparsed*: a verifier must see
altered bytes as they are stored, not a parse error in their place.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, Row, Select, func, select

from gateway.store.audit import AuditLogRepository, IndexedColumns
from gateway.store.engine import dialect_insert, using
from gateway.store.tables import (
    AUDIT_CHECKPOINT,
    AUDIT_COSIGNATURE,
    AUDIT_EVENT,
    WITNESSED_CHECKPOINT,
)

__all__ = [
    "CheckpointRepository",
    "CheckpointRow",
    "CosignatureRow",
    "LogEntries",
    "LogLeaf",
    "WitnessRepository",
    "WitnessedRow",
]


@dataclass(frozen=True, slots=True)
class CosignatureRow:
    """A witness's cosignature line on the checkpoint of ``size``."""

    size: int
    witness: str
    line: str
    certificate_chain: bytes
    cosigned_at: int


@dataclass(frozen=True, slots=True)
class CheckpointRow:
    """A checkpoint this node published, with the cosignatures it has received."""

    size: int
    root: bytes
    note: str
    published_at: int
    cosignatures: tuple[CosignatureRow, ...] = ()

    def cosigned_by(self, witness: str) -> bool:
        """Whether ``witness`` has cosigned this checkpoint."""
        return any(c.witness == witness for c in self.cosignatures)


@dataclass(frozen=True, slots=True)
class WitnessedRow:
    """At a parent: a child's checkpoint as received, and the cosignature line returned."""

    child: str
    size: int
    root: bytes
    note: str
    cosignature: str
    cosigned_at: int
    epoch: int = 1


class CheckpointRepository:
    """This node's published checkpoints and their cosignatures."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def add(self, row: CheckpointRow, *, conn: Connection | None = None) -> bool:
        """Store a published checkpoint; False if one of that size is already stored.

        Raises:
            StorageError: the database failed.
        """
        with using(self._engine, conn, f"storing checkpoint {row.size}", write=True) as c:
            insert = dialect_insert(c, AUDIT_CHECKPOINT).values(
                size=row.size, root=row.root, note=row.note, published_at=row.published_at
            )
            inserted = c.execute(
                insert.on_conflict_do_nothing(index_elements=["size"]).returning(
                    AUDIT_CHECKPOINT.c.size
                )
            ).first()
        return inserted is not None

    def add_cosignature(self, row: CosignatureRow, *, conn: Connection | None = None) -> None:
        """Store a cosignature; a second one by the same witness on the same size is ignored.

        Raises:
            StorageError: the database failed, or there is no checkpoint of that size.
        """
        action = f"storing the cosignature of {row.witness} on checkpoint {row.size}"
        with using(self._engine, conn, action, write=True) as c:
            insert = dialect_insert(c, AUDIT_COSIGNATURE).values(
                size=row.size,
                witness=row.witness,
                line=row.line,
                certificate_chain=row.certificate_chain,
                cosigned_at=row.cosigned_at,
            )
            c.execute(insert.on_conflict_do_nothing(index_elements=["size", "witness"]))

    def latest(self, *, conn: Connection | None = None) -> CheckpointRow | None:
        """The checkpoint of the largest size, with its cosignatures, or None."""
        with using(self._engine, conn, "reading the latest checkpoint", write=False) as c:
            rows = self._read(c, _select_rows(after_size=-1, limit=1, newest=True))
        return rows[0] if rows else None

    def latest_cosigned(
        self, witness: str, *, conn: Connection | None = None
    ) -> CheckpointRow | None:
        """The largest checkpoint ``witness`` cosigned, or None."""
        with using(self._engine, conn, "reading the latest cosigned checkpoint", write=False) as c:
            size = c.execute(
                select(func.max(AUDIT_COSIGNATURE.c.size)).where(
                    AUDIT_COSIGNATURE.c.witness == witness
                )
            ).scalar_one()
            if size is None:
                return None
            rows = self._read(c, _select_rows(after_size=int(size) - 1, limit=1))
        return rows[0] if rows else None

    def last_cosigned_at(self, witness: str) -> int | None:
        """When ``witness`` cosigned the largest checkpoint it cosigned, or None if never.

        Raises:
            StorageError: the database failed.
        """
        cosigned = self.latest_cosigned(witness)
        if cosigned is None:
            return None
        return max(c.cosigned_at for c in cosigned.cosignatures if c.witness == witness)

    def list(self, *, after_size: int = -1, limit: int = 100) -> builtins.list[CheckpointRow]:
        """Checkpoints with a size above ``after_size``, smallest first, with cosignatures."""
        with using(self._engine, None, "listing checkpoints", write=False) as c:
            return self._read(c, _select_rows(after_size=after_size, limit=limit))

    def witness_certificates(self) -> dict[str, bytes]:
        """Each witness's most recent signing certificate chain (PEM)."""
        newest = (
            select(AUDIT_COSIGNATURE.c.witness, func.max(AUDIT_COSIGNATURE.c.size).label("size"))
            .group_by(AUDIT_COSIGNATURE.c.witness)
            .subquery()
        )
        query = select(AUDIT_COSIGNATURE.c.witness, AUDIT_COSIGNATURE.c.certificate_chain).join(
            newest,
            (AUDIT_COSIGNATURE.c.witness == newest.c.witness)
            & (AUDIT_COSIGNATURE.c.size == newest.c.size),
        )
        with using(self._engine, None, "reading witness certificates", write=False) as c:
            return {str(w): bytes(pem) for w, pem in c.execute(query)}

    def witness_certificate_history(self) -> dict[str, builtins.list[bytes]]:
        """Every distinct signing certificate chain each witness cosigned with (PEM), oldest
        first: a witness that renewed its key made the older cosignatures with the older one."""
        query = select(AUDIT_COSIGNATURE.c.witness, AUDIT_COSIGNATURE.c.certificate_chain).order_by(
            AUDIT_COSIGNATURE.c.size
        )
        history: dict[str, builtins.list[bytes]] = {}
        with using(self._engine, None, "reading witness certificates", write=False) as c:
            for witness, pem in c.execute(query):
                chains = history.setdefault(str(witness), [])
                if bytes(pem) not in chains:
                    chains.append(bytes(pem))
        return history

    def _read(self, c: Connection, query: Select[Any]) -> builtins.list[CheckpointRow]:
        rows = c.execute(query).all()
        if not rows:
            return []
        sizes = [int(r.size) for r in rows]
        cosigs: dict[int, builtins.list[CosignatureRow]] = {s: [] for s in sizes}
        for r in c.execute(
            select(AUDIT_COSIGNATURE)
            .where(AUDIT_COSIGNATURE.c.size.in_(sizes))
            .order_by(AUDIT_COSIGNATURE.c.size, AUDIT_COSIGNATURE.c.witness)
        ):
            cosigs[int(r.size)].append(
                CosignatureRow(
                    int(r.size), r.witness, r.line, bytes(r.certificate_chain), int(r.cosigned_at)
                )
            )
        return [
            CheckpointRow(
                int(r.size), bytes(r.root), r.note, int(r.published_at), tuple(cosigs[int(r.size)])
            )
            for r in rows
        ]


def _select_rows(*, after_size: int, limit: int, newest: bool = False) -> Select[Any]:
    order = AUDIT_CHECKPOINT.c.size.desc() if newest else AUDIT_CHECKPOINT.c.size
    return (
        select(AUDIT_CHECKPOINT)
        .where(AUDIT_CHECKPOINT.c.size > after_size)
        .order_by(order)
        .limit(limit)
    )


class WitnessRepository:
    """At a parent: the child checkpoints this node cosigned."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def last(self, child: str, *, conn: Connection | None = None) -> WitnessedRow | None:
        """The largest checkpoint of the latest epoch cosigned for ``child``, or None."""
        query = (
            select(WITNESSED_CHECKPOINT)
            .where(WITNESSED_CHECKPOINT.c.child == child)
            .order_by(WITNESSED_CHECKPOINT.c.epoch.desc(), WITNESSED_CHECKPOINT.c.size.desc())
            .limit(1)
        )
        with using(self._engine, conn, f"reading the last checkpoint of {child}", write=False) as c:
            rows = [_witnessed(r) for r in c.execute(query)]
        return rows[0] if rows else None

    def add(self, row: WitnessedRow, *, conn: Connection | None = None) -> None:
        """Keep a cosigned child checkpoint.

        Raises:
            StorageError: the database failed, or that size of that epoch is already kept.
        """
        action = f"keeping checkpoint {row.size} of {row.child} (epoch {row.epoch})"
        with using(self._engine, conn, action, write=True) as c:
            c.execute(
                WITNESSED_CHECKPOINT.insert().values(
                    child=row.child,
                    epoch=row.epoch,
                    size=row.size,
                    root=row.root,
                    note=row.note,
                    cosignature=row.cosignature,
                    cosigned_at=row.cosigned_at,
                )
            )

    def history(self, child: str) -> builtins.list[WitnessedRow]:
        """Every checkpoint cosigned for ``child``, by epoch, smallest first."""
        query = (
            select(WITNESSED_CHECKPOINT)
            .where(WITNESSED_CHECKPOINT.c.child == child)
            .order_by(WITNESSED_CHECKPOINT.c.epoch, WITNESSED_CHECKPOINT.c.size)
        )
        with using(self._engine, None, f"reading checkpoints of {child}", write=False) as c:
            return [_witnessed(r) for r in c.execute(query)]


def _witnessed(r: Row[Any]) -> WitnessedRow:
    row = r._mapping
    return WitnessedRow(
        child=row["child"],
        size=int(row["size"]),
        root=bytes(row["root"]),
        note=row["note"],
        cosignature=row["cosignature"],
        cosigned_at=int(row["cosigned_at"]),
        epoch=int(row["epoch"]),
    )


@dataclass(frozen=True, slots=True)
class LogLeaf:
    """One leaf as stored: its seq, the event's exact bytes and the columns beside them."""

    seq: int
    data: bytes
    indexed: IndexedColumns


class LogEntries:
    """The audit log's leaves as stored, and its current tree head."""

    def __init__(self, engine: Engine, audit: AuditLogRepository) -> None:
        self._engine = engine
        self._audit = audit

    def head(self) -> tuple[int, bytes]:
        """The log's size and root, read in one snapshot.

        Raises:
            StorageError: the database failed or a stored node is missing.
        """
        with using(self._engine, None, "reading the audit log head", write=False) as c:
            size = self._audit.size(conn=c)
            return size, self._audit.root(size, conn=c)

    def read(self, start: int, limit: int) -> Sequence[tuple[int, bytes]]:
        """Up to ``limit`` ``(seq, event bytes)`` with ``start <= seq``, in order, unparsed."""
        return [(leaf.seq, leaf.data) for leaf in self.leaves(start, limit)]

    def leaves(self, start: int, limit: int) -> Sequence[LogLeaf]:
        """Up to ``limit`` leaves with ``start <= seq``, in order, unparsed, with their columns."""
        columns = AUDIT_EVENT.c
        query = (
            select(
                columns.seq,
                columns.event,
                columns.time,
                columns.actor,
                columns.action,
                columns.decision,
                columns.subject,
            )
            .where(columns.seq >= start)
            .order_by(columns.seq)
            .limit(limit)
        )
        with using(self._engine, None, "reading audit log entries", write=False) as c:
            return [
                LogLeaf(
                    int(r.seq),
                    bytes(r.event),
                    IndexedColumns(int(r.time), r.actor, r.action, r.decision, r.subject),
                )
                for r in c.execute(query)
            ]
