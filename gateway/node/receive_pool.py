"""The receive pool: worker processes that check the records of hop batches.

A hub spends most of its CPU per received record on the record's strict
verification (:mod:`gateway.node.record_check`), which needs no store and no
peer. With ``[receive] workers = N`` (N > 0) a pool of N worker processes does
it, so that a node uses more than one core; the DSSE hop check, the statements,
the writer, the audit leaf and the outbox stay in the node process, as does
the answer, sent only once the batch is durable.

- Workers are started with the ``spawn`` context: the node process runs gRPC
  threads and is never forked. Each loads the trust material once (the
  federation root, the catalog, the limits) and keeps its own verified keys.
- A worker checks against the directory the node holds: each job carries the
  directory's serial, and a worker holding an older one (or none) answers so;
  the job goes again with the signed directory, which the worker verifies and
  installs. A worker never checks against an older directory than the one the
  node held when the batch arrived.
- A batch is cut into one run of consecutive records per worker and the
  answers are joined in order, so the first fault in record order that refuses
  the batch is the one raised, and the item faults are the same, as in process.
- A worker also redacts each record it verified for the neighbours it goes to
  next, while its reading is at hand (:class:`~gateway.node.forwards.OnwardRedactions`);
  the redactions wait in the node process
  (:class:`~gateway.node.forwards.ForwardRedactions`) for the push, which
  otherwise parses the record again to redact it.
- A worker that dies (killed, out of memory) breaks the pool: the runs it had
  are checked again in the node process, so nothing is lost, and a new pool
  replaces the broken one.
- Each worker reports its pid as it starts (the node finds it among its live
  children), so the node knows its workers without ProcessPoolExecutor's internals.
- :meth:`ReceivePool.stop` ends the workers and waits for them: no process
  outlives the node. A node killed outright cannot stop them: each worker
  ends by itself within a second of its parent going.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import CancelledError, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from multiprocessing.process import BaseProcess
from multiprocessing.queues import Queue
from queue import Empty
from typing import Final

import structlog
from cryptography import x509

from gateway.core.catalog import Catalog
from gateway.core.errors import ConfigurationError, GatewayError
from gateway.core.identifiers import SubjectType
from gateway.core.limits import Limits
from gateway.core.records import SignedRecord
from gateway.node.collector import freeze_startup_heap, pace_collector_for_serving
from gateway.node.forwards import ForwardRedactions, OnwardRedactions
from gateway.node.record_check import CheckedRecords, RecordCheck, RecordChecker
from gateway.node.trust import FederationTrust, SignedDirectoryFile

__all__ = ["ReceivePool", "WorkerSetup"]

_START_S = 30.0
"""How long :meth:`ReceivePool.pids` waits for workers still starting to report."""
_WATCH_S = 1.0
"""How often a worker looks whether the node process is still its parent."""

log = structlog.get_logger("gateway.receive_pool")


@dataclass(frozen=True, slots=True)
class WorkerSetup:
    """What a worker loads once as it starts (pickled to it: plain data and a function).

    Attributes:
        load_catalog: a module-level function (or a partial of one) that loads
            the node's catalog in the worker; it must load ``catalog_version``.
    """

    node_id: str
    parent: str | None
    root_pem: bytes
    load_catalog: Callable[[], Catalog]
    catalog_version: str
    limits: Limits
    clock_skew_s: int


@dataclass(frozen=True, slots=True)
class _Job:
    records: tuple[str, ...]
    sender: str
    now: int
    alone: bool
    serial: int
    """The serial of the directory the node held when the batch arrived."""
    directory: SignedDirectoryFile | None = None
    """Sent again with it when the worker held an older directory."""


_Fields = tuple[
    str, str, int, str, str, SubjectType, int, int, str, Mapping[str, str], Mapping[str, str], str
]
"""A verified record as it crosses back to the node: its fields but the SD-JWT, which the
node already holds (it sent it), in :class:`SignedRecord`'s order with ``sd_jwt`` left out."""


def _pack(record: SignedRecord) -> _Fields:
    return (
        record.issuer,
        record.record_id,
        record.version,
        record.category,
        record.catalog_version,
        record.subject_type,
        record.issued_at,
        record.expires_at,
        record.key_id,
        record.clear,
        record.masked,
        record.not_public,
    )


def _unpack(fields: _Fields, sd_jwt: str) -> SignedRecord:
    (issuer, record_id, version, category, catalog_version, subject_type) = fields[:6]
    (issued_at, expires_at, key_id, clear, masked, not_public) = fields[6:]
    return SignedRecord(
        issuer=issuer,
        record_id=record_id,
        version=version,
        category=category,
        catalog_version=catalog_version,
        subject_type=subject_type,
        issued_at=issued_at,
        expires_at=expires_at,
        key_id=key_id,
        clear=clear,
        masked=masked,
        sd_jwt=sd_jwt,
        not_public=not_public,
    )


@dataclass(frozen=True, slots=True)
class _Answer:
    """A run's outcome in a compact form: plain tuples pickle and unpickle fastest, and the
    records' texts the node sent are not sent back."""

    checked: tuple[_Fields | GatewayError, ...]
    forwards: tuple[tuple[int, str, str], ...]
    """(position in the run, recipient, redacted SD-JWT) for each onward neighbour."""

    def records(self, sd_jwts: Sequence[str]) -> CheckedRecords:
        """The run's outcomes, each verified record with its text from ``sd_jwts``."""
        return [
            outcome if isinstance(outcome, GatewayError) else _unpack(outcome, sd_jwt)
            for outcome, sd_jwt in zip(self.checked, sd_jwts, strict=True)
        ]


@dataclass(frozen=True, slots=True)
class _NeedDirectory:
    """A worker's answer: it holds no directory as recent as the job's."""


_NEED_DIRECTORY: Final = _NeedDirectory()


class _Worker:
    """A worker process's state: its trust, its catalog, its record check."""

    def __init__(self, setup: WorkerSetup) -> None:
        self._now = 0
        catalog = setup.load_catalog()
        if catalog.version != setup.catalog_version:
            raise ConfigurationError(
                f"a receive worker loaded catalog {catalog.version}, "
                f"the node holds {setup.catalog_version}"
            )
        self._trust = FederationTrust(
            node_id=setup.node_id,
            root=x509.load_pem_x509_certificate(setup.root_pem),
            clock=lambda: self._now,
            clock_skew_s=setup.clock_skew_s,
        )
        self._check = RecordCheck(
            node_id=setup.node_id,
            parent=setup.parent,
            catalog=catalog,
            trust=self._trust,
            limits=setup.limits,
        )
        self._onward = OnwardRedactions(
            node_id=setup.node_id, parent=setup.parent, catalog=catalog, trust=self._trust
        )

    def run(self, job: _Job) -> _Answer | _NeedDirectory:
        # The node's time for the batch: directory validity, key validity and
        # records are checked at it, as in the node process.
        self._now = job.now
        held = self._trust.held
        if held is None or held.serial < job.serial:
            if job.directory is None:
                return _NEED_DIRECTORY
            self._trust.install(job.directory)
        checked = self._check.check(job.records, sender=job.sender, now=job.now, alone=job.alone)
        return _Answer(
            tuple(r if isinstance(r, GatewayError) else _pack(r) for r in checked),
            self._onward.made(checked, job.sender),
        )


_worker: _Worker | None = None
"""This worker process's state (None in the node process)."""


def _start_worker(setup: WorkerSetup, started: Queue[int], node: int) -> None:
    """Worker-process start: ``node`` is the pid of the node process that made the pool.

    It is handed over, not read here as the worker's parent: a node killed while this
    worker was still starting has left it to another parent already, which the watch
    would take for its node and never see go.
    """
    global _worker  # noqa: PLW0603 - one state per worker process, set once as it starts
    started.put(os.getpid())
    # Ctrl-C reaches the whole process group: the node stops its workers itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Verification is this process's whole work: the collector paced as the node's.
    pace_collector_for_serving()
    threading.Thread(
        target=_end_with_node, args=(node,), name="receive-worker-watch", daemon=True
    ).start()
    _worker = _Worker(setup)
    # What the worker holds from here on (modules, the catalog, the keys) is left out of
    # every later full collection, as the node's own start is.
    freeze_startup_heap()


def _end_with_node(node: int) -> None:
    """End this worker once the node process is gone (killed: it could not stop us).

    A worker waits for jobs on a queue whose writing end it holds itself, so it
    would never see the node go; the node's pid as its parent says it has not.
    """
    while os.getppid() == node:
        time.sleep(_WATCH_S)
    os._exit(0)


def _run_job(job: _Job) -> _Answer | _NeedDirectory:
    if _worker is None:
        raise RuntimeError("the receive worker was not started")
    return _worker.run(job)


def _worker_pid() -> int:
    return os.getpid()


class _Workers:
    """One pool of worker processes: the executor and the processes it started.

    Each worker reports its pid on ``started`` as it starts; the node finds its
    process among its live children (multiprocessing's public view of them).
    """

    def __init__(self, count: int, setup: WorkerSetup) -> None:
        context = multiprocessing.get_context("spawn")
        self._count = count
        self._started: Queue[int] = context.Queue()
        self._processes: dict[int, BaseProcess | None] = {}
        """By pid; None: ended before the node looked (or never its child)."""
        self._lock = threading.Lock()
        self.executor = ProcessPoolExecutor(
            max_workers=count,
            mp_context=context,
            initializer=_start_worker,
            initargs=(setup, self._started, os.getpid()),
        )
        # The pool starts a process per job while none is idle: one job per worker
        # starts them all now, rather than at the first batches.
        for _ in range(count):
            self.executor.submit(_worker_pid)

    def alive(self, *, wait_s: float = 0.0) -> tuple[int, ...]:
        """The pids of the workers running now, waiting up to ``wait_s`` for those still
        starting to report."""
        with self._lock:
            self._look(wait_s)
            known = list(self._processes.items())
        return tuple(pid for pid, p in known if p is not None and p.is_alive())

    def all_alive(self) -> bool:
        """No worker that has reported has ended (a pool whose worker dies is broken)."""
        with self._lock:
            self._look(0.0)
            known = list(self._processes.values())
        return all(p is not None and p.is_alive() for p in known)

    def _look(self, wait_s: float) -> None:
        deadline = time.monotonic() + wait_s
        while len(self._processes) < self._count:
            try:
                if wait_s > 0:
                    pid = self._started.get(timeout=max(0.0, deadline - time.monotonic()))
                else:
                    pid = self._started.get_nowait()
            except Empty:
                return
            children = {child.pid: child for child in multiprocessing.active_children()}
            self._processes[pid] = children.get(pid)

    def shutdown(self, *, wait: bool) -> None:
        # ``started`` stays open: another thread may still be looking at this pool.
        self.executor.shutdown(wait=wait, cancel_futures=True)


def _runs(records: Sequence[str], count: int) -> list[tuple[str, ...]]:
    """``records`` cut into at most ``count`` runs of consecutive records, sizes within one."""
    size, extra = divmod(len(records), count)
    runs: list[tuple[str, ...]] = []
    start = 0
    for index in range(count):
        end = start + size + (1 if index < extra else 0)
        if end > start:
            runs.append(tuple(records[start:end]))
        start = end
    return runs


class ReceivePool:
    """:class:`~gateway.node.record_check.RecordChecker` over worker processes (thread-safe)."""

    def __init__(
        self,
        *,
        workers: int,
        setup: WorkerSetup,
        trust: FederationTrust,
        local: RecordChecker,
        redactions: ForwardRedactions,
    ) -> None:
        """``local`` checks in the node process what no worker can (see the module docstring);
        the workers' redactions for the forward go to ``redactions``."""
        if workers < 1:
            raise ValueError("a receive pool needs at least one worker")
        self._workers = workers
        self._setup = setup
        self._trust = trust
        self._local = local
        self.redactions = redactions
        self._lock = threading.Lock()
        self._pool: _Workers | None = None
        self._stopped = False

    def start(self) -> None:
        """Start the workers and wait until each has loaded its trust material.

        Raises:
            ConfigurationError: a worker could not start (its error is logged).
        """
        pool = self._current()
        if pool is None:
            return
        try:
            for future in [pool.executor.submit(_worker_pid) for _ in range(self._workers)]:
                future.result()
        except BrokenProcessPool as exc:
            raise ConfigurationError(
                f"the receive workers of node {self._setup.node_id} did not start: {exc}"
            ) from exc

    def stop(self) -> None:
        """End the workers and wait for them; later batches are checked in the node process."""
        with self._lock:
            self._stopped = True
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)

    def pids(self) -> tuple[int, ...]:
        """The process ids of the workers running now (those still starting: once started)."""
        with self._lock:
            pool = self._pool
        if pool is None:
            return ()
        return pool.alive(wait_s=_START_S)

    def check(
        self, sd_jwts: Sequence[str], *, sender: str, now: int, alone: bool
    ) -> CheckedRecords:
        """See :meth:`RecordChecker.check`; the same answers as in the node process."""
        held = self._trust.held
        pool = self._current()
        if not sd_jwts or held is None or pool is None:
            # No directory: the node process refuses the batch as it would without a pool.
            return self._local.check(sd_jwts, sender=sender, now=now, alone=alone)
        jobs = [_Job(run, sender, now, alone, held.serial) for run in _runs(sd_jwts, self._workers)]
        pending = [(job, self._submit(pool, job)) for job in jobs]
        checked: list[CheckedRecords] = []
        for job, future in pending:
            checked.append(self._collect(pool, job, future))
        return [outcome for run in checked for outcome in run]

    def _collect(
        self,
        pool: _Workers,
        job: _Job,
        future: Future[_Answer | _NeedDirectory] | None,
    ) -> CheckedRecords:
        answer = self._result(pool, future)
        if isinstance(answer, _NeedDirectory):
            with_directory = replace(job, directory=self._trust.signed)
            answer = self._result(pool, self._submit(pool, with_directory))
        if answer is None or isinstance(answer, _NeedDirectory):
            # The worker died with the run: checked here instead, nothing lost.
            return self._local.check(job.records, sender=job.sender, now=job.now, alone=job.alone)
        self.redactions.put(
            (job.records[index], recipient, redacted)
            for index, recipient, redacted in answer.forwards
        )
        return answer.records(job.records)

    def _submit(self, pool: _Workers, job: _Job) -> Future[_Answer | _NeedDirectory] | None:
        try:
            return pool.executor.submit(_run_job, job)
        except BrokenProcessPool:
            self._replace(pool)
            return None
        except RuntimeError:
            # Shut down by stop() meanwhile.
            return None

    def _result(
        self,
        pool: _Workers,
        future: Future[_Answer | _NeedDirectory] | None,
    ) -> _Answer | _NeedDirectory | None:
        if future is None:
            return None
        try:
            return future.result()
        except BrokenProcessPool:
            self._replace(pool)
            return None
        except CancelledError:
            # Still queued when another thread replaced the broken pool, or stop() ended it:
            # never run, so checked here like the runs of a dead worker.
            return None

    def _current(self) -> _Workers | None:
        """The pool in use; a new one if a worker of the last one has ended."""
        with self._lock:
            if self._stopped:
                return None
            pool = self._pool
            if pool is None:
                pool = self._pool = _Workers(self._workers, self._setup)
                return pool
        if not pool.all_alive():
            self._replace(pool)
            return self._current()
        return pool

    def _replace(self, broken: _Workers) -> None:
        """A worker died: a new pool in place of ``broken`` (once, whoever notices first)."""
        with self._lock:
            if self._pool is not broken or self._stopped:
                return
            log.warning(
                "receive.worker_died",
                node=self._setup.node_id,
                detail="a receive worker ended; its records are checked in the node process "
                "and a new pool starts",
            )
            self._pool = _Workers(self._workers, self._setup)
        broken.shutdown(wait=False)
