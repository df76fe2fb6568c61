"""The outbox (what still has to reach which node) and the delivery ledger (what did).

Outbox rows are claimed with a lease: a worker that dies mid-delivery leaves
its rows claimed only until ``claimed_until``, after which another worker
takes them. Several gateway replicas over one PostgreSQL claim concurrently
with ``FOR UPDATE SKIP LOCKED``; SQLite, which has one writer at a time,
claims in a single ``UPDATE ... RETURNING``.

The ledger remembers which node received which record version, so that a
revocation, repair or expiry goes to exactly those nodes, and which of them
confirmed it.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any

from sqlalchemy import Engine, and_, bindparam, func, or_, select, text, update
from sqlalchemy.engine import Connection, RowMapping
from sqlalchemy.sql.elements import ClauseElement

from gateway.core.errors import InputError, NotFoundError
from gateway.store.engine import dialect_insert, is_sqlite, using
from gateway.store.prepared import Prepared, PreparedIn
from gateway.store.tables import DELIVERY, OUTBOX

__all__ = [
    "DeliveryRow",
    "OutboxEntry",
    "OutboxItem",
    "OutboxKind",
    "OutboxRepository",
    "OutboxState",
]

# last_error is a VARCHAR(512); longer driver messages are cut, not refused.
_MAX_ERROR_CHARS = 512
_CHUNK = 500
_ENQUEUE_NAMES = (
    "recipient",
    "kind",
    "record_id",
    "version",
    "payload_ref",
    "state",
    "attempts",
    "next_attempt_at",
    "created_at",
)
_ENQUEUE = Prepared(
    lambda conn: (
        dialect_insert(conn, OUTBOX)
        .values({name: bindparam(name) for name in _ENQUEUE_NAMES})
        .on_conflict_do_nothing(
            index_elements=["recipient", "kind", "record_id", "version", "payload_ref"]
        )
    )
)


_DELIVERY_NAMES = ("record_id", "version", "node", "delivered_at", "status_sent")


def _record_delivery(conn: Connection) -> ClauseElement:
    insert = dialect_insert(conn, DELIVERY).values({n: bindparam(n) for n in _DELIVERY_NAMES})
    return insert.on_conflict_do_update(
        index_elements=["record_id", "version", "node"],
        set_={
            "delivered_at": insert.excluded.delivered_at,
            "status_sent": insert.excluded.status_sent,
        },
    )


_RECORD_DELIVERY = Prepared(_record_delivery)


@functools.lru_cache(maxsize=8)
def _update_by_id(names: tuple[str, ...]) -> PreparedIn:
    """``UPDATE outbox SET`` the columns ``names`` ``WHERE id IN (...)``."""
    return PreparedIn(
        lambda ids: (
            update(OUTBOX)
            .where(OUTBOX.c.id.in_(ids))
            .values({name: bindparam(name) for name in names})
        ),
        largest=_CHUNK,
    )


class OutboxKind(StrEnum):
    """What an outbox row delivers."""

    RECORD = "record"
    STATEMENT = "statement"
    NOTICE = "notice"
    MESSAGE = "message"
    """A routed message; ``payload_ref`` is its id, ``record_id`` empty, ``version`` 0."""


_KINDS = frozenset(kind.value for kind in OutboxKind)


class OutboxState(StrEnum):
    """Delivery state of an outbox row."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """Something to enqueue for one recipient. ``payload_ref`` is ``""`` when unused.

    Raises:
        InputError: unknown kind.
    """

    recipient: str
    kind: str
    record_id: str
    version: int
    payload_ref: str = ""

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise InputError(f"unknown outbox kind {self.kind!r}")


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """An outbox row as stored."""

    id: int
    recipient: str
    kind: str
    record_id: str
    version: int
    payload_ref: str
    state: str
    attempts: int
    next_attempt_at: int
    last_error: str | None
    created_at: int
    claimed_by: str | None
    claimed_until: int | None


@dataclass(frozen=True, slots=True)
class DeliveryRow:
    """One ledger entry: ``node`` received ``record_id`` v``version``."""

    record_id: str
    version: int
    node: str
    delivered_at: int
    status_sent: str
    confirmed_status: str | None = None
    confirmed_at: int | None = None


# Due for a claim: pending, its next attempt come, and unclaimed or its lease run out.
_DUE = (
    select(OUTBOX.c.id)
    .where(
        OUTBOX.c.recipient == bindparam("recipient"),
        OUTBOX.c.state == bindparam("pending"),
        OUTBOX.c.next_attempt_at <= bindparam("now"),
        or_(OUTBOX.c.claimed_until.is_(None), OUTBOX.c.claimed_until <= bindparam("now")),
    )
    .order_by(OUTBOX.c.id)
    .limit(bindparam("limit"))
)
_LEASE = {
    "claimed_by": bindparam("worker"),
    "claimed_until": bindparam("until"),
    "attempts": OUTBOX.c.attempts + 1,
}
_ITEM_COLUMNS = tuple(OUTBOX.c[f.name] for f in fields(OutboxItem))
_CLAIM_DUE = Prepared(
    update(OUTBOX)
    .where(OUTBOX.c.id.in_(_DUE.scalar_subquery()))
    .values(_LEASE)
    .returning(*_ITEM_COLUMNS)
)
_DUE_LOCKED = Prepared(_DUE.with_for_update(skip_locked=True))
_CLAIM_IDS = PreparedIn(
    lambda ids: update(OUTBOX).where(OUTBOX.c.id.in_(ids)).values(_LEASE).returning(*_ITEM_COLUMNS),
    largest=_CHUNK,
)


def _item(mapping: RowMapping) -> OutboxItem:
    return OutboxItem(**{f.name: mapping[f.name] for f in fields(OutboxItem)})


def _delivery(mapping: RowMapping) -> DeliveryRow:
    return DeliveryRow(**{f.name: mapping[f.name] for f in fields(DeliveryRow)})


def _released(state: OutboxState, **values: Any) -> dict[str, Any]:
    return {"state": state.value, "claimed_by": None, "claimed_until": None, **values}


# A skip scan over ix_outbox_pending (state, recipient, id): each step finds the
# next recipient with pending rows by one index search, then one probe, walking
# that recipient's pending rows oldest first, asks whether any is due.
_DUE_RECIPIENTS = text(
    """
    WITH RECURSIVE r(recipient) AS (
        SELECT min(recipient) FROM outbox WHERE state = :pending
        UNION ALL
        SELECT (
            SELECT min(o.recipient) FROM outbox o
            WHERE o.state = :pending AND o.recipient > r.recipient
        )
        FROM r WHERE r.recipient IS NOT NULL
    )
    SELECT r.recipient FROM r
    WHERE r.recipient IS NOT NULL AND EXISTS (
        SELECT 1 FROM outbox o
        WHERE o.state = :pending AND o.recipient = r.recipient
          AND o.next_attempt_at <= :now
          AND (o.claimed_until IS NULL OR o.claimed_until <= :now)
    )
    """
)


class OutboxRepository:
    """Outbox and delivery ledger of one store.

    Methods commit on their own unless given ``conn``.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def enqueue_many(
        self, entries: Sequence[OutboxEntry], *, now: int, conn: Connection | None = None
    ) -> int:
        """Enqueue deliveries; an entry already in the outbox (in any state) is left alone.

        Returns:
            How many entries were new.

        Raises:
            StorageError: the database failed.
        """
        if not entries:
            return 0
        pending = OutboxState.PENDING.value
        rows = [
            (e.recipient, e.kind, e.record_id, e.version, e.payload_ref, pending, 0, now, now)
            for e in entries
        ]
        with using(self._engine, conn, f"enqueueing {len(entries)} deliveries", write=True) as c:
            # One short statement run per row by the driver (executemany), not a multi-row
            # INSERT ... RETURNING rendered per batch: psycopg parses such a text afresh on
            # every call (too long for its cache), and SQLAlchemy builds a dict per row.
            # ON CONFLICT DO NOTHING changes no row for an entry already queued, so the row
            # count is the number of new entries, as RETURNING counted them.
            return _ENQUEUE.execute_rows(c, _ENQUEUE_NAMES, rows)

    def claim(
        self,
        recipient: str,
        *,
        worker: str,
        limit: int,
        now: int,
        lease_s: int,
        conn: Connection | None = None,
    ) -> list[OutboxItem]:
        """Lease up to ``limit`` due rows for ``recipient`` to ``worker``, oldest first.

        A row is due when pending, its ``next_attempt_at`` has come, and it is
        unclaimed or its lease has run out. Each claim counts as an attempt.

        Raises:
            InputError: ``limit`` or ``lease_s`` is not positive.
            StorageError: the database failed.
        """
        if limit < 1 or lease_s < 1:
            raise InputError(f"claim needs a positive limit and lease, got {limit} and {lease_s}s")
        params = {
            "recipient": recipient,
            "pending": OutboxState.PENDING.value,
            "now": now,
            "limit": limit,
            "worker": worker,
            "until": now + lease_s,
        }
        with using(self._engine, conn, f"claiming outbox items for {recipient}", write=True) as c:
            if is_sqlite(c):
                # One statement under SQLite's single write lock: no window between pick and mark.
                claimed = _CLAIM_DUE.execute(c, params).rows
            else:
                # Rows another replica is claiming right now are skipped, not waited for.
                ids = [row[0] for row in _DUE_LOCKED.execute(c, params).rows]
                claimed = _CLAIM_IDS.execute(c, ids, params).rows
        # RETURNING gives no order guarantee.
        return sorted((OutboxItem(*row) for row in claimed), key=lambda item: item.id)

    def mark_delivered(
        self, ids: Sequence[int], at: int, *, conn: Connection | None = None
    ) -> None:
        """Mark rows delivered and release their lease. ``at`` is kept in ``next_attempt_at``.

        Raises:
            StorageError: the database failed.
        """
        self._set(ids, _released(OutboxState.DELIVERED, next_attempt_at=at, last_error=None), conn)

    def mark_retry(
        self,
        ids: Sequence[int],
        error: str,
        next_attempt_at: int,
        *,
        conn: Connection | None = None,
    ) -> None:
        """Release rows for another attempt at ``next_attempt_at``, noting why this one failed.

        Raises:
            StorageError: the database failed.
        """
        values = _released(
            OutboxState.PENDING,
            next_attempt_at=next_attempt_at,
            last_error=error[:_MAX_ERROR_CHARS],
        )
        self._set(ids, values, conn)

    def mark_failed(
        self, ids: Sequence[int], error: str, *, conn: Connection | None = None
    ) -> None:
        """Give up on rows (a final, non-transient failure), noting why.

        Raises:
            StorageError: the database failed.
        """
        self._set(ids, _released(OutboxState.FAILED, last_error=error[:_MAX_ERROR_CHARS]), conn)

    def troubled(self, *, recipient: str | None = None, limit: int = 1000) -> list[OutboxItem]:
        """Rows that met trouble, oldest first: failed ones, and pending ones whose last try failed.

        Args:
            recipient: only this recipient's rows.
            limit: the most rows returned.

        Raises:
            InputError: ``limit`` is not positive.
            StorageError: the database failed.
        """
        if limit < 1:
            raise InputError(f"a listing needs a positive limit, got {limit}")
        trouble = or_(
            OUTBOX.c.state == OutboxState.FAILED.value,
            and_(OUTBOX.c.state == OutboxState.PENDING.value, OUTBOX.c.last_error.is_not(None)),
        )
        query = select(OUTBOX).where(trouble)
        if recipient is not None:
            query = query.where(OUTBOX.c.recipient == recipient)
        query = query.order_by(OUTBOX.c.id).limit(limit)
        with using(self._engine, None, "listing undelivered outbox items", write=False) as c:
            return [_item(m) for m in c.execute(query).mappings()]

    def requeue_failed(
        self,
        *,
        ids: Sequence[int] = (),
        recipient: str | None = None,
        now: int,
        conn: Connection | None = None,
    ) -> list[OutboxItem]:
        """Put failed rows back in the queue, due at ``now``; the rows requeued, as they were.

        With ``ids``, those of them that are failed; otherwise every failed row
        (of ``recipient``, when given). The last error stays until the next try.

        Raises:
            StorageError: the database failed.
        """
        query = select(OUTBOX).where(OUTBOX.c.state == OutboxState.FAILED.value)
        if ids:
            query = query.where(OUTBOX.c.id.in_(list(ids)))
        if recipient is not None:
            query = query.where(OUTBOX.c.recipient == recipient)
        with using(self._engine, conn, "requeueing failed outbox items", write=True) as c:
            found = [_item(m) for m in c.execute(query.order_by(OUTBOX.c.id)).mappings()]
            self._set([i.id for i in found], _released(OutboxState.PENDING, next_attempt_at=now), c)
        return found

    def _set(self, ids: Sequence[int], values: dict[str, Any], conn: Connection | None) -> None:
        if not ids:
            return
        with using(self._engine, conn, f"updating {len(ids)} outbox items", write=True) as c:
            _update_by_id(tuple(sorted(values))).execute(c, ids, values)

    def get(self, item_id: int) -> OutboxItem:
        """One outbox row by id.

        Raises:
            NotFoundError: no such row.
            StorageError: the database failed.
        """
        with using(self._engine, None, f"reading outbox item {item_id}", write=False) as c:
            found = c.execute(select(OUTBOX).where(OUTBOX.c.id == item_id)).mappings().first()
        if found is None:
            raise NotFoundError(f"outbox item {item_id} not found")
        return _item(found)

    def due_recipients(self, now: int) -> list[str]:
        """Recipients with at least one pending row due at ``now`` and not leased.

        Reads one index entry per recipient rather than the whole backlog: it runs
        before every round of batches, so a scan of the pending rows would make a
        backlog of n rows cost n^2 / batch size to drain.

        Raises:
            StorageError: the database failed.
        """
        with using(self._engine, None, "listing due recipients", write=False) as c:
            rows = c.execute(_DUE_RECIPIENTS, {"pending": OutboxState.PENDING.value, "now": now})
            # The recursion yields recipients in ascending order; sorting its few rows
            # here keeps the plan free of a sort step.
            return sorted(str(r) for r in rows.scalars())

    def pending_after(self, recipient: str, after: int, *, limit: int) -> list[OutboxItem]:
        """Pending rows for ``recipient`` with id > ``after``, oldest first (for catch-up).

        Raises:
            StorageError: the database failed.
        """
        query = (
            select(OUTBOX)
            .where(
                OUTBOX.c.recipient == recipient,
                OUTBOX.c.state == OutboxState.PENDING.value,
                OUTBOX.c.id > after,
            )
            .order_by(OUTBOX.c.id)
            .limit(limit)
        )
        with using(self._engine, None, f"reading the outbox for {recipient}", write=False) as c:
            return [_item(m) for m in c.execute(query).mappings()]

    def pending_through(self, recipient: str, through: int) -> list[OutboxItem]:
        """Pending rows for ``recipient`` with id <= ``through`` (acknowledged by a cursor).

        Raises:
            StorageError: the database failed.
        """
        query = (
            select(OUTBOX)
            .where(
                OUTBOX.c.recipient == recipient,
                OUTBOX.c.state == OutboxState.PENDING.value,
                OUTBOX.c.id <= through,
            )
            .order_by(OUTBOX.c.id)
        )
        with using(self._engine, None, f"reading the outbox for {recipient}", write=False) as c:
            return [_item(m) for m in c.execute(query).mappings()]

    def pending_count(self, recipient: str | None = None) -> int:
        """Rows still pending (claimed or not), for one recipient or all.

        Raises:
            StorageError: the database failed.
        """
        query = (
            select(func.count())
            .select_from(OUTBOX)
            .where(OUTBOX.c.state == OutboxState.PENDING.value)
        )
        if recipient is not None:
            query = query.where(OUTBOX.c.recipient == recipient)
        with using(self._engine, None, "counting pending outbox items", write=False) as c:
            total: int = c.execute(query).scalar_one()
        return total

    def failed_count(self) -> int:
        """Rows given up on (``gateway outbox list`` shows them).

        Raises:
            StorageError: the database failed.
        """
        query = select(func.count()).where(OUTBOX.c.state == OutboxState.FAILED.value)
        with using(self._engine, None, "counting failed outbox items", write=False) as c:
            return int(c.execute(query).scalar_one())

    def last_delivered(self, recipients: Sequence[str]) -> dict[str, int]:
        """When something was last delivered to each of ``recipients`` that ever had one.

        One index probe per recipient (state, recipient, id): the newest
        delivered row, whose ``next_attempt_at`` holds the delivery time.

        Raises:
            StorageError: the database failed.
        """
        found: dict[str, int] = {}
        with using(self._engine, None, "reading the last deliveries", write=False) as c:
            for recipient in recipients:
                newest = (
                    select(func.max(OUTBOX.c.id))
                    .where(
                        OUTBOX.c.state == OutboxState.DELIVERED.value,
                        OUTBOX.c.recipient == recipient,
                    )
                    .scalar_subquery()
                )
                at = c.execute(
                    select(OUTBOX.c.next_attempt_at).where(OUTBOX.c.id == newest)
                ).scalar_one_or_none()
                if at is not None:
                    found[recipient] = int(at)
        return found

    def backlog(self) -> dict[str, tuple[int, int]]:
        """Per recipient with pending rows: (how many, ``created_at`` of the oldest).

        Raises:
            StorageError: the database failed.
        """
        query = (
            select(OUTBOX.c.recipient, func.count(), func.min(OUTBOX.c.created_at))
            .where(OUTBOX.c.state == OutboxState.PENDING.value)
            .group_by(OUTBOX.c.recipient)
        )
        with using(self._engine, None, "reading the outbox backlog", write=False) as c:
            return {str(r): (int(n), int(oldest)) for r, n, oldest in c.execute(query)}

    def record_delivery(
        self, entries: Sequence[DeliveryRow], *, conn: Connection | None = None
    ) -> None:
        """Note in the ledger that nodes received record versions.

        Delivering the same version to the same node again (a later status)
        updates ``delivered_at`` and ``status_sent`` and keeps any confirmation.

        Raises:
            StorageError: the database failed (including a version not stored here).
        """
        if not entries:
            return
        rows = [(e.record_id, e.version, e.node, e.delivered_at, e.status_sent) for e in entries]
        with using(self._engine, conn, f"recording {len(entries)} deliveries", write=True) as c:
            _RECORD_DELIVERY.execute_rows(c, _DELIVERY_NAMES, rows)

    def confirm(
        self,
        record_id: str,
        version: int,
        node: str,
        status: str,
        at: int,
        *,
        conn: Connection | None = None,
    ) -> None:
        """Note that ``node`` confirmed holding ``record_id`` v``version`` with ``status``.

        Raises:
            NotFoundError: the ledger has no delivery of that version to that node.
            StorageError: the database failed.
        """
        stmt = (
            update(DELIVERY)
            .where(
                and_(
                    DELIVERY.c.record_id == record_id,
                    DELIVERY.c.version == version,
                    DELIVERY.c.node == node,
                )
            )
            .values(confirmed_status=status, confirmed_at=at)
        )
        with using(self._engine, conn, f"confirming delivery of {record_id}", write=True) as c:
            changed = c.execute(stmt).rowcount
        if changed == 0:
            raise NotFoundError(f"no delivery of record {record_id} v{version} to node {node}")

    def holders(self, record_id: str) -> list[DeliveryRow]:
        """Every node that received any version of ``record_id``, by version then node.

        Raises:
            StorageError: the database failed.
        """
        query = (
            select(DELIVERY)
            .where(DELIVERY.c.record_id == record_id)
            .order_by(DELIVERY.c.version, DELIVERY.c.node)
        )
        with using(self._engine, None, f"listing holders of {record_id}", write=False) as c:
            return [_delivery(m) for m in c.execute(query).mappings()]
