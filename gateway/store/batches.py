"""Received hop batches (replay guard and evidence), status statements, catch-up cursors.

A batch is accepted in one transaction: its id and DSSE envelope, the record
versions and the statements it carried. The batch id is the primary key of
``hop_batch``, so a replay is refused by the database itself, even when two
copies arrive at once on different replicas, and nothing from the replay is
stored.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass, fields

from sqlalchemy import Engine, bindparam, select, update
from sqlalchemy.engine import Connection, RowMapping

from gateway.core.errors import NotFoundError, ReplayError
from gateway.store.engine import dialect_insert, using
from gateway.store.prepared import Prepared, PreparedIn
from gateway.store.record_rows import PutOutcome, RecordRow
from gateway.store.records import RecordRepository
from gateway.store.tables import BATCH, CURSOR, STATEMENT

_CHUNK = 500

__all__ = ["BatchRepository", "CursorRepository", "HopBatchRow", "StatementRow"]


@dataclass(frozen=True, slots=True)
class HopBatchRow:
    """A received batch as kept for evidence."""

    batch_id: str
    sender: str
    received_at: int
    item_count: int
    envelope: bytes


@dataclass(frozen=True, slots=True)
class StatementRow:
    """A status statement about one record version, with its DSSE envelope as received."""

    statement_id: str
    record_id: str
    version: int
    kind: str
    issuer: str
    issued_at: int
    envelope: bytes
    applied_at: int | None = None


_STATEMENT_COLUMNS = tuple(f.name for f in fields(StatementRow))
_statement_values = operator.attrgetter(*_STATEMENT_COLUMNS)
_INSERT_STATEMENTS = Prepared(
    lambda conn: (
        dialect_insert(conn, STATEMENT)
        .values({name: bindparam(name) for name in _STATEMENT_COLUMNS})
        .on_conflict_do_nothing(index_elements=["statement_id"])
    )
)
# The statements about a list of record ids, columns in StatementRow's order (each row
# is its arguments); the caller keeps the wanted versions.
_STATEMENTS_BY_RECORD_ID = PreparedIn(
    lambda ids: select(*(STATEMENT.c[name] for name in _STATEMENT_COLUMNS)).where(
        STATEMENT.c.record_id.in_(ids)
    ),
    largest=_CHUNK,
)
_BATCH_NAMES = tuple(f.name for f in fields(HopBatchRow))
_INSERT_BATCH = Prepared(
    lambda conn: (
        dialect_insert(conn, BATCH)
        .values({name: bindparam(name) for name in _BATCH_NAMES})
        .on_conflict_do_nothing(index_elements=["batch_id"])
    )
)


class BatchRepository:
    """Hop batches and statements of one store."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._records = RecordRepository(engine)

    def accept_batch(
        self,
        batch_id: str,
        sender: str,
        envelope: bytes,
        record_rows: Sequence[RecordRow],
        statement_rows: Sequence[StatementRow] = (),
        *,
        received_at: int,
        conn: Connection | None = None,
    ) -> list[PutOutcome]:
        """Store a verified batch's evidence, records and statements atomically.

        Statements already stored (same id) are skipped: the same statement
        may reach a node along two paths.

        Args:
            batch_id: the id from the signed batch payload.
            sender: the node that sent it (the mTLS peer).
            envelope: the DSSE envelope JSON as received.
            record_rows: record versions carried by the batch.
            statement_rows: status statements carried by the batch.
            received_at: unix seconds.
            conn: run inside this connection's transaction instead of a new one.

        Returns:
            The put outcome of each record row, in order.

        Raises:
            ReplayError: the batch id was accepted before; nothing was stored.
            InputError: a record row's digest does not match its sd_jwt.
            StorageError: the database failed.
        """
        evidence = (batch_id, sender, received_at, len(record_rows) + len(statement_rows), envelope)
        with using(self._engine, conn, f"accepting hop batch {batch_id}", write=True) as c:
            # First statement of the transaction. The batch id is the primary key: a replay
            # (committed, or committing meanwhile on another connection, which this waits for)
            # inserts no row, and nothing else is stored.
            if not _INSERT_BATCH.execute_rows(c, _BATCH_NAMES, [evidence]):
                raise ReplayError(f"hop batch {batch_id} from {sender} was already received")
            outcomes = self._records.put_many(record_rows, conn=c)
            _INSERT_STATEMENTS.execute_rows(
                c, _STATEMENT_COLUMNS, [_statement_values(s) for s in statement_rows]
            )
        return outcomes

    def get(self, batch_id: str) -> HopBatchRow:
        """The evidence kept for one received batch.

        Raises:
            NotFoundError: no batch with that id was received.
            StorageError: the database failed.
        """
        with using(self._engine, None, f"reading hop batch {batch_id}", write=False) as c:
            found = c.execute(select(BATCH).where(BATCH.c.batch_id == batch_id)).mappings().first()
        if found is None:
            raise NotFoundError(f"hop batch {batch_id} not found")
        return HopBatchRow(**{f.name: found[f.name] for f in fields(HopBatchRow)})

    def statements(self, record_id: str) -> list[StatementRow]:
        """Statements stored about any version of ``record_id``, by issue time.

        Raises:
            StorageError: the database failed.
        """
        query = (
            select(STATEMENT)
            .where(STATEMENT.c.record_id == record_id)
            .order_by(STATEMENT.c.issued_at, STATEMENT.c.statement_id)
        )
        with using(self._engine, None, f"reading statements on {record_id}", write=False) as c:
            return [_statement(m) for m in c.execute(query).mappings()]

    def statements_about(
        self, keys: Sequence[tuple[str, int]], *, conn: Connection | None = None
    ) -> list[StatementRow]:
        """Statements stored about any of these (record id, version), by issue time.

        Raises:
            StorageError: the database failed.
        """
        wanted = set(keys)
        ids = sorted({record_id for record_id, _version in wanted})
        if not ids:
            return []
        with using(self._engine, conn, "reading statements on records", write=False) as c:
            found = [StatementRow(*row) for row in _STATEMENTS_BY_RECORD_ID.execute(c, ids)]
        return sorted(
            (s for s in found if (s.record_id, s.version) in wanted),
            key=lambda s: (s.issued_at, s.statement_id),
        )

    def add_statements(
        self, rows: Sequence[StatementRow], *, conn: Connection | None = None
    ) -> None:
        """Store statements issued here (or received); one already stored is left alone.

        Raises:
            StorageError: the database failed.
        """
        if not rows:
            return
        with using(self._engine, conn, f"storing {len(rows)} statements", write=True) as c:
            _INSERT_STATEMENTS.execute_rows(
                c, _STATEMENT_COLUMNS, [_statement_values(s) for s in rows]
            )

    def mark_applied(
        self, statement_ids: Sequence[str], at: int, *, conn: Connection | None = None
    ) -> None:
        """Note when statements took effect here.

        Raises:
            StorageError: the database failed.
        """
        if not statement_ids:
            return
        stmt = (
            update(STATEMENT)
            .where(STATEMENT.c.statement_id.in_(list(statement_ids)))
            .values(applied_at=at)
        )
        with using(self._engine, conn, "marking statements applied", write=True) as c:
            c.execute(stmt)

    def statement(self, statement_id: str) -> StatementRow:
        """One stored statement.

        Raises:
            NotFoundError: unknown statement id.
            StorageError: the database failed.
        """
        query = select(STATEMENT).where(STATEMENT.c.statement_id == statement_id)
        with using(self._engine, None, f"reading statement {statement_id}", write=False) as c:
            found = c.execute(query).mappings().first()
        if found is None:
            raise NotFoundError(f"statement {statement_id} not found")
        return _statement(found)


def _statement(mapping: RowMapping) -> StatementRow:
    return StatementRow(**{name: mapping[name] for name in _STATEMENT_COLUMNS})


class CursorRepository:
    """How far this node has read each peer's streams, for catch-up after being offline."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def position(self, peer: str, stream: str) -> int:
        """The stored position, 0 when this stream was never read.

        Raises:
            StorageError: the database failed.
        """
        query = select(CURSOR.c.position).where(CURSOR.c.peer == peer, CURSOR.c.stream == stream)
        with using(self._engine, None, f"reading cursor {peer}/{stream}", write=False) as c:
            found: int | None = c.execute(query).scalar_one_or_none()
        return 0 if found is None else found

    def advance(
        self, peer: str, stream: str, position: int, *, conn: Connection | None = None
    ) -> None:
        """Move a cursor forward to ``position``; a smaller position leaves it where it is.

        Never moving back means a late, reordered acknowledgement cannot make
        the node fetch again what it already holds.

        Raises:
            StorageError: the database failed.
        """
        with using(self._engine, conn, f"advancing cursor {peer}/{stream}", write=True) as c:
            ins = dialect_insert(c, CURSOR).values(peer=peer, stream=stream, position=position)
            stmt = ins.on_conflict_do_update(
                index_elements=["peer", "stream"],
                set_={"position": ins.excluded.position},
                where=CURSOR.c.position < ins.excluded.position,
            )
            c.execute(stmt)
