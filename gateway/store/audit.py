"""The audit log store: events as RFC 9162 Merkle leaves, with stored subtree hashes.

Appending takes the caller's connection, so an event commits in the same
transaction as the action it records (no action without its event, no event
without its action). Sequence numbers are dense from 0 and equal leaf indices;
the writer serialises appends on SQLite, and on PostgreSQL the primary key on
``seq`` makes a concurrent double append fail rather than fork the log.

Inside :meth:`AuditLogRepository.deferred` (the store writer opens it around
each group of jobs) appends on that connection are collected instead, and
appended as one batch just before the group commits: one Merkle append per
group rather than one per job, in the same transaction as the jobs.
"""

from __future__ import annotations

import builtins
import functools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine, bindparam, func, select, text

from gateway.core.audit import AuditEvent
from gateway.core.errors import StorageError
from gateway.core.merkle import append_many, consistency_proof, inclusion_proof, leaf_hash, root_at
from gateway.store.engine import is_sqlite, staged, using
from gateway.store.prepared import Prepared
from gateway.store.tables import AUDIT_EVENT, AUDIT_NODE

__all__ = ["AuditFilter", "AuditLogRepository", "AuditStage", "IndexedColumns", "StoredEvent"]

_APPEND_LOCK = 0x61756469745F6C6F  # "audit_lo": the advisory lock that orders appends
_STAGE_KEY = "gateway.audit.stage"  # in Connection.info while appends on it are deferred


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event with its position in the log and its exact bytes."""

    seq: int
    event: AuditEvent
    data: bytes


@dataclass(frozen=True, slots=True)
class IndexedColumns:
    """The columns stored beside an event's bytes, which listings select on.

    They are copies of the event's fields (long ones cut to the column's
    width); nothing hashes them, so :func:`gateway.node.audit_log.verify_log`
    checks them against the event they sit beside.
    """

    time: int
    actor: str
    action: str
    decision: str
    subject: str

    @classmethod
    def of(cls, event: AuditEvent) -> IndexedColumns:
        """The columns an append stores for ``event``."""
        return cls(
            time=event.time,
            actor=event.actor[:160],
            action=event.action[:96],
            decision=event.decision.value,
            subject=event.subject[:64],
        )


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Filters for listing events; empty fields match everything."""

    since: int | None = None
    until: int | None = None
    actor: str = ""
    action: str = ""
    subject: str = ""
    decision: str = ""


@dataclass(slots=True)
class AuditStage:
    """Events appended on a connection while :meth:`AuditLogRepository.deferred` is open."""

    events: builtins.list[AuditEvent] = field(default_factory=builtins.list)

    def mark(self) -> int:
        """A point to go back to with :meth:`discard_since`."""
        return len(self.events)

    def discard_since(self, mark: int) -> None:
        """Forget the events staged after ``mark`` (their job was rolled back)."""
        del self.events[mark:]


@functools.lru_cache(maxsize=256)
def _node_query(count: int) -> Prepared:
    """Read ``count`` nodes by primary key, as one OR of key equalities.

    An OR of primary-key equalities, because SQLite scans the whole table for a
    row-value ``IN`` list. Written as text and kept per key count: building the
    same expression with SQLAlchemy's operators cost more than the query itself
    (a check appends one event, and reads about log2(n) nodes to do it); and
    prepared (see :mod:`gateway.store.prepared`): compiled once per backend.
    """
    keys = " OR ".join(f"(level = :l{i} AND idx = :i{i})" for i in range(count))
    # Only a constant table name and numbered placeholders go into the text.
    return Prepared(text(f"SELECT level, idx, hash FROM {AUDIT_NODE.name} WHERE {keys}"))  # noqa: S608


# Every append runs them (a check appends once per group commit): compiled once per backend.
_SIZE = Prepared(select(func.max(AUDIT_EVENT.c.seq)))
_INSERT_EVENTS = Prepared(
    AUDIT_EVENT.insert().values({c.name: bindparam(c.name) for c in AUDIT_EVENT.c})
)
_INSERT_NODES = Prepared(
    AUDIT_NODE.insert().values({c.name: bindparam(c.name) for c in AUDIT_NODE.c})
)
_EVENT_COLUMNS = ("seq", "time", "actor", "action", "decision", "subject", "event")
_NODE_COLUMNS = ("level", "idx", "hash")
_LOCK_APPENDS = Prepared(text("SELECT pg_advisory_xact_lock(:key)"))  # PostgreSQL only


class _ConnNodes:
    """NodeReader over the audit_node table, one query per call."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def get_nodes(self, keys: Sequence[tuple[int, int]]) -> Sequence[bytes]:
        if not keys:
            return []
        wanted = list(dict.fromkeys(keys))
        params: dict[str, int] = {}
        for i, (level, idx) in enumerate(wanted):
            params[f"l{i}"] = level
            params[f"i{i}"] = idx
        rows = _node_query(len(wanted)).execute(self._conn, params)
        found: dict[tuple[int, int], bytes] = {}
        for row in rows:
            level, idx, node = tuple(row)
            found[level, idx] = bytes(node)
        missing = [k for k in keys if k not in found]
        if missing:
            raise StorageError(f"audit log node {missing[0]} is missing: the log is damaged")
        return [found[k] for k in keys]


class AuditLogRepository:
    """Append-only audit log with O(log n) proofs."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def size(self, *, conn: Connection | None = None) -> int:
        with using(self._engine, conn, "reading the audit log size", write=False) as c:
            last = _SIZE.execute(c, {}).scalar_one()
        return 0 if last is None else int(last) + 1

    def append(self, events: Sequence[AuditEvent], *, conn: Connection | None = None) -> None:
        """Append events in order, in ``conn``'s transaction or in one of their own.

        Within :meth:`deferred` on ``conn`` the events are staged and appended
        when that block ends, still before its transaction commits.

        Raises:
            StorageError: the database failed (nothing is appended).
        """
        if not events:
            return
        stage = conn.info.get(_STAGE_KEY) if conn is not None else None
        if isinstance(stage, AuditStage):
            stage.events.extend(events)
            return
        self._append_now(events, conn)

    @contextmanager
    def deferred(self, conn: Connection) -> Iterator[AuditStage]:
        """Collect the appends made on ``conn`` in the block; append them when it ends.

        The events get consecutive sequence numbers in the order they were
        appended, in ``conn``'s transaction. If the block raises, nothing staged
        is appended (the caller rolls its transaction back). The caller may drop
        events of work it rolled back with :meth:`AuditStage.discard_since`.

        Raises:
            StorageError: the database failed while appending the staged events.
        """
        with staged(conn, _STAGE_KEY, AuditStage(), "audit appends") as stage:
            yield stage
        if stage.events:
            self._append_now(stage.events, conn)

    def _append_now(self, events: Sequence[AuditEvent], conn: Connection | None) -> None:
        with using(self._engine, conn, f"appending {len(events)} audit events", write=True) as c:
            if not is_sqlite(c):
                # Appends read the size, then insert at it: serialise them across every
                # transaction (and every replica) until commit. SQLite's single writer
                # (BEGIN IMMEDIATE) already does.
                _LOCK_APPENDS.execute(c, {"key": _APPEND_LOCK})
            # Read in this transaction, every time: nothing of the log is kept between
            # groups, which another writer (a backup, a replica) or a rollback would outdate.
            last = _SIZE.execute(c, {}).scalar_one()
            size = 0 if last is None else int(last) + 1
            rows = []
            for seq, event in enumerate(events, start=size):
                columns = IndexedColumns.of(event)
                rows.append(
                    (
                        seq,
                        columns.time,
                        columns.actor,
                        columns.action,
                        columns.decision,
                        columns.subject,
                        event.to_bytes(),
                    )
                )
            nodes = append_many(size, [leaf_hash(row[-1]) for row in rows], _ConnNodes(c))
            # Rows as tuples in the tables' column order: no mapping per event and per node.
            _INSERT_EVENTS.execute_rows(c, _EVENT_COLUMNS, rows)
            _INSERT_NODES.execute_rows(c, _NODE_COLUMNS, nodes)

    def root(self, size: int, *, conn: Connection | None = None) -> bytes:
        with using(self._engine, conn, "computing an audit log root", write=False) as c:
            return root_at(size, _ConnNodes(c))

    def inclusion_proof(self, index: int, size: int) -> builtins.list[bytes]:
        with using(self._engine, None, "building an inclusion proof", write=False) as c:
            return inclusion_proof(index, size, _ConnNodes(c))

    def consistency_proof(self, size1: int, size2: int) -> builtins.list[bytes]:
        with using(self._engine, None, "building a consistency proof", write=False) as c:
            return consistency_proof(size1, size2, _ConnNodes(c))

    def events(
        self, where: AuditFilter = AuditFilter(), *, after: int = -1, limit: int = 500
    ) -> builtins.list[StoredEvent]:
        """Events matching ``where`` with seq > ``after``, in log order."""
        query = (
            select(AUDIT_EVENT.c.seq, AUDIT_EVENT.c.event)
            .where(AUDIT_EVENT.c.seq > after)
            .order_by(AUDIT_EVENT.c.seq)
            .limit(limit)
        )
        columns = AUDIT_EVENT.c
        if where.since is not None:
            query = query.where(columns.time >= where.since)
        if where.until is not None:
            query = query.where(columns.time <= where.until)
        for name in ("actor", "action", "subject", "decision"):
            value = getattr(where, name)
            if value:
                query = query.where(columns[name] == value)
        with using(self._engine, None, "listing audit events", write=False) as c:
            rows = c.execute(query).all()
        return [StoredEvent(int(seq), AuditEvent.from_bytes(bytes(d)), bytes(d)) for seq, d in rows]
