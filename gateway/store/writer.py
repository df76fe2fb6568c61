"""One writer thread per store, committing queued write jobs in groups.

SQLite lets one connection write at a time. Many threads each opening a
write transaction would queue on the file lock, and every one of them would
pay for its own fsync. Instead, every write of a node is a *job* submitted to
one :class:`StoreWriter`: its thread takes whatever jobs are queued (up to
``max_batch``), runs them in ONE transaction and commits once (group commit),
then completes each job (a :class:`gateway.store.completion.Completion`). It
keeps one connection from group to group
(:class:`gateway.store.engine.KeptWriteConnection`). A job completes only after
the commit that made it durable, so a caller that was told "done" can rely on it
after a crash.

Each job of a group runs inside its own savepoint: a job that raises is
rolled back alone and its future gets the exception, while the other jobs of
the group still commit. A group of one job needs no savepoint: if it raises,
its transaction is rolled back. PostgreSQL works the same way (there the
writer is optional).

A group made only of *replayable* jobs (``submit(fn, replayable=True)``: the
check path's) runs without savepoints: they cost two statements per job, and
such jobs rarely fail. If one raises, the group's transaction is rolled back
and the group is run again as any other, each job in its savepoint, so every
job's future gets what it would have got from that run alone: the jobs before
the failing one run twice, their first run rolled back.

Audit events the jobs append on their connection are staged and appended as
one batch just before the commit (:meth:`AuditLogRepository.deferred`), with
the events of a rolled-back job left out: one Merkle append per group. In a
group without savepoints the checks the jobs add are staged too, and inserted
as one statement (and their hits as another) before the audit events
(:func:`gateway.store.discipline.deferred_checks`); if that insert fails, the
group is run again as when a job raises, each job in its savepoint, adding its
check itself.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Engine
from sqlalchemy.engine import Connection

from gateway.core.errors import ConfigurationError, StorageError
from gateway.store.audit import AuditLogRepository, AuditStage
from gateway.store.completion import Completion
from gateway.store.discipline import deferred_checks
from gateway.store.driver import send
from gateway.store.engine import KeptWriteConnection, translating

__all__ = ["StoreWriter"]

_T = TypeVar("_T")


@dataclass(slots=True)
class _Job:
    fn: Callable[[Connection], Any]
    future: Completion[Any]
    replayable: bool = False
    result: Any = None
    error: BaseException | None = None


class _Replay(Exception):  # noqa: N818  # not an error: the group is run again
    """A job of a group without savepoints raised: roll the group back and run it again."""


_SAVEPOINT = "SAVEPOINT store_job"
_ROLLBACK_TO_SAVEPOINT = "ROLLBACK TO SAVEPOINT store_job"
_RELEASE_SAVEPOINT = "RELEASE SAVEPOINT store_job"

# Put on the queue by close(); everything queued before it still runs.
_STOP = object()


class StoreWriter:
    """The single writer of a store.

    Args:
        engine: from :func:`gateway.store.engine.make_engine`, already migrated.
        audit: the store's audit log; the jobs' appends to it are made once per group.
        max_batch: most jobs committed in one transaction.
        name: thread name, for diagnostics.

    Raises:
        ConfigurationError: ``max_batch`` is not positive.
    """

    def __init__(
        self,
        engine: Engine,
        audit: AuditLogRepository,
        *,
        max_batch: int = 256,
        name: str = "store-writer",
    ) -> None:
        if max_batch < 1:
            raise ConfigurationError(f"max_batch must be positive, got {max_batch}")
        self._connection = KeptWriteConnection(engine)
        self._audit = audit
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[_Job | object] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._closed = False
        self._commits = 0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    @property
    def commits(self) -> int:
        """Transactions committed so far (a group of jobs counts once)."""
        return self._commits

    def submit(self, fn: Callable[[Connection], _T], *, replayable: bool = False) -> Completion[_T]:
        """Queue a write job; it runs on the writer thread inside a transaction.

        ``fn`` receives the connection and must do all its work through it
        (repository methods take it as ``conn=``). It must not commit.

        Args:
            fn: the job.
            replayable: ``fn`` may run again after its first run was rolled back
                (when another job of its group raised), and does nothing outside
                the connection that a second run would repeat visibly. A group
                made only of such jobs runs without a savepoint per job.

        Returns:
            The job's completion: ``fn``'s result once its transaction committed,
            or the exception ``fn`` raised (database errors as StorageError).

        Raises:
            StorageError: the writer is closed.
        """
        future: Completion[_T] = Completion()
        with self._lock:
            if self._closed:
                raise StorageError("the store writer is closed")
            self._queue.put(_Job(fn, future, replayable))
        return future

    def close(self, timeout_s: float | None = None) -> None:
        """Finish every job already submitted, then stop the thread. Idempotent."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._queue.put(_STOP)
        self._thread.join(timeout_s)

    def __enter__(self) -> StoreWriter:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _run(self) -> None:
        stopping = False
        while not stopping:
            batch: list[_Job] = []
            item = self._queue.get()
            while True:
                if item is _STOP:
                    stopping = True
                    break
                if isinstance(item, _Job) and item.future.set_running_or_notify_cancel():
                    batch.append(item)
                if len(batch) >= self._max_batch:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            if batch:
                self._commit(batch)
        self._connection.close()

    def _commit(self, batch: list[_Job]) -> None:
        try:
            if len(batch) > 1 and all(job.replayable for job in batch):
                try:
                    self._run_group(batch, savepoints=False)
                except _Replay:
                    # Nothing of the first run was kept: run it again, a savepoint per job.
                    for job in batch:
                        job.result = None
                    self._run_group(batch, savepoints=True)
            else:
                self._run_group(batch, savepoints=len(batch) > 1)
        # The job of a group of one, or the commit itself, failed: no job is durable.
        except BaseException as error:  # noqa: BLE001
            for job in batch:
                job.future.set_exception(error)
            return
        self._commits += 1
        for job in batch:
            if job.error is not None:
                job.future.set_exception(job.error)
            else:
                job.future.set_result(job.result)

    def _run_group(self, batch: list[_Job], *, savepoints: bool) -> None:
        with (
            self._connection.transaction(f"committing {len(batch)} store jobs") as conn,
            self._audit.deferred(conn) as stage,
        ):
            if savepoints:
                for job in batch:
                    self._run_in_savepoint(job, conn, stage)
                return
            try:
                with translating("storing a group's checks"), deferred_checks(conn):
                    for job in batch:
                        try:
                            with translating("store write job"):
                                job.result = job.fn(conn)
                        except BaseException as error:
                            if len(batch) == 1 or conn.invalidated:
                                raise  # its transaction is rolled back; every job gets the error
                            raise _Replay from error
            except _Replay:
                raise
            except Exception as error:
                if len(batch) == 1 or conn.invalidated:
                    raise
                # Inserting the staged checks failed (an id already stored): which job's
                # is not known, so the group runs again, each job adding its own.
                raise _Replay from error

    @staticmethod
    def _run_in_savepoint(job: _Job, conn: Connection, stage: AuditStage) -> None:
        # The savepoint as two statements sent as they are, on the connection's own
        # cursor (Connection.begin_nested compiles a new SAVEPOINT clause and builds a
        # nested transaction per call, 150-230 µs against 20-50 µs). One name serves
        # every job: each job's savepoint is released (or rolled back to, then
        # released) before the next.
        mark = stage.mark()
        send(conn, _SAVEPOINT)
        try:
            with translating("store write job"):
                job.result = job.fn(conn)
        # A job may raise anything; it is handed to that job's caller.
        except BaseException as error:
            if conn.invalidated:
                # The connection was lost under the job (its error says so, transient):
                # the whole group is gone with it, and every job gets that error.
                raise
            send(conn, _ROLLBACK_TO_SAVEPOINT)
            send(conn, _RELEASE_SAVEPOINT)
            stage.discard_since(mark)
            job.error = error
        else:
            send(conn, _RELEASE_SAVEPOINT)
