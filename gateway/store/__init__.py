"""A node's store: SQLModel tables, repositories, migrations and the single writer.

Open a store with :func:`open_store`, which migrates the schema first::

    store = open_store("sqlite:///var/node.db")
    try:
        job = store.writer.submit(lambda conn: store.records.put_many(rows, conn=conn))
        outcomes = job.result()
    finally:
        store.close()

Every database error leaves this package as
:class:`gateway.core.errors.StorageError`.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from gateway.core.record_status import RecordStatus
from gateway.store.audit import AuditFilter, AuditLogRepository, StoredEvent
from gateway.store.batches import BatchRepository, CursorRepository, HopBatchRow, StatementRow
from gateway.store.changes import RecordChange, RecordChangeRepository
from gateway.store.completion import Completion
from gateway.store.engine import make_engine
from gateway.store.filings import DepartmentFilings, FiledRecord, Filing, FilingRepository
from gateway.store.health import check_files_writable
from gateway.store.leases import LeaseRepository, LeaseRow
from gateway.store.messages import MessageRepository, MessageRow
from gateway.store.migrate import migrate
from gateway.store.outbox import (
    DeliveryRow,
    OutboxEntry,
    OutboxItem,
    OutboxKind,
    OutboxRepository,
    OutboxState,
)
from gateway.store.record_rows import PutOutcome, RecordKey, RecordRow, sd_jwt_digest
from gateway.store.records import RecordRepository
from gateway.store.refusals import Refusal, RefusalCount, RefusalRepository
from gateway.store.revocations import RevocationRepository, RevokedRow
from gateway.store.writer import StoreWriter

__all__ = [
    "AuditFilter",
    "AuditLogRepository",
    "BatchRepository",
    "Completion",
    "CursorRepository",
    "DeliveryRow",
    "DepartmentFilings",
    "FiledRecord",
    "Filing",
    "FilingRepository",
    "HopBatchRow",
    "LeaseRepository",
    "LeaseRow",
    "MessageRepository",
    "MessageRow",
    "OutboxEntry",
    "OutboxItem",
    "OutboxKind",
    "OutboxRepository",
    "OutboxState",
    "PutOutcome",
    "RecordChange",
    "RecordChangeRepository",
    "RecordKey",
    "RecordRepository",
    "RecordRow",
    "RecordStatus",
    "Refusal",
    "RefusalCount",
    "RefusalRepository",
    "RevocationRepository",
    "RevokedRow",
    "StatementRow",
    "Store",
    "StoreWriter",
    "StoredEvent",
    "make_engine",
    "migrate",
    "open_store",
    "open_store_reader",
    "sd_jwt_digest",
]


@dataclass(frozen=True, slots=True)
class Store:
    """An open store: the engine, its repositories and its single writer."""

    engine: Engine
    records: RecordRepository
    outbox: OutboxRepository
    batches: BatchRepository
    cursors: CursorRepository
    audit: AuditLogRepository
    messages: MessageRepository
    filings: FilingRepository
    refusals: RefusalRepository
    changes: RecordChangeRepository
    revocations: RevocationRepository
    leases: LeaseRepository
    writer: StoreWriter

    def close(self) -> None:
        """Finish queued writes, then release every connection."""
        self.writer.close()
        self.engine.dispose()


def open_store_reader(url: str) -> Store:
    """Open the store at ``url``, already migrated by its node, for reading only.

    For a node's child process (a check frontend): it reads the store and hands
    every write to the node's one writer. Its own writer is closed from the start,
    so a write through it is refused (StorageError) rather than made beside the
    node's; and every connection is read-only at the database level (see
    :func:`make_engine`), so a write through a repository is refused as well.

    Raises:
        ConfigurationError: unsupported URL or SQLite library.
        StorageError: a SQLite file cannot be written (a read may need the WAL's files).
    """
    check_files_writable(url)
    store = _store(make_engine(url, read_only=True), max_batch=1)
    store.writer.close()
    return store


def open_store(url: str, *, max_batch: int = 256) -> Store:
    """Migrate the database at ``url`` to the newest schema and open it.

    Args:
        url: ``sqlite:///path`` or ``postgresql+psycopg://...``.
        max_batch: most write jobs the writer commits in one transaction.

    Raises:
        ConfigurationError: unsupported URL or SQLite library.
        StorageError: the database failed, or a SQLite file cannot be written.
    """
    check_files_writable(url)
    migrate(url)
    return _store(make_engine(url), max_batch=max_batch)


def _store(engine: Engine, *, max_batch: int) -> Store:
    audit = AuditLogRepository(engine)
    return Store(
        engine=engine,
        records=RecordRepository(engine),
        outbox=OutboxRepository(engine),
        batches=BatchRepository(engine),
        cursors=CursorRepository(engine),
        audit=audit,
        messages=MessageRepository(engine),
        filings=FilingRepository(engine),
        refusals=RefusalRepository(engine),
        changes=RecordChangeRepository(engine),
        revocations=RevocationRepository(engine),
        leases=LeaseRepository(engine),
        writer=StoreWriter(engine, audit, max_batch=max_batch),
    )
