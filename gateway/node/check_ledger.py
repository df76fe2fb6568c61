"""Where a check is decided and written: its row, its hits, the reports to issuers, its audit event.

A check is decided from reads (:meth:`gateway.node.discipline.DisciplineService.check`);
what it writes is a :class:`CheckWrite`, plain data. The service hands its decision, a
function of a connection, to a :class:`CheckLedger`, which says where it runs:

- in the node process, :class:`StoreCheckLedger` runs it on the store's one writer, in the
  transaction that commits its write in a group with others: the reads (the caller's
  revocation first) see exactly what the write commits beside, and the RPC thread hands
  over once and waits once (issue 19 item 3: a read on one of 16 busy RPC threads cost
  ~10x what it costs on one);
- a check frontend (another process, :mod:`gateway.app.check_frontends`) decides with its
  own reads and hands the write to the node's ledger over its channel
  (:mod:`gateway.node.ledger_channel`).

Either way there is one writer, and no answer before the commit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Connection

from gateway.core.audit import AuditEvent
from gateway.core.discipline import CheckResult
from gateway.core.discipline_messages import HIT_KIND
from gateway.node.messages import MessageRouter
from gateway.store import Completion, Store
from gateway.store.discipline import CheckRow, DisciplineRepository, HitRow

__all__ = [
    "CheckLedger",
    "CheckWrite",
    "DecideCheck",
    "DecidedCheck",
    "HitReportTo",
    "StoreCheckLedger",
]


@dataclass(frozen=True, slots=True)
class HitReportTo:
    """A hit report for the issuer of a notice found, as a routed message's body."""

    issuer: str
    body: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class CheckWrite:
    """Everything one answered check stores, in one transaction.

    Attributes:
        check: the check row; with a request id it is stored once per department and id.
        hits: the hits that bear on the answer.
        reports: a report to each other issuer of a hit (routed messages).
        event: the audit event of the check.
    """

    check: CheckRow
    hits: tuple[HitRow, ...]
    reports: tuple[HitReportTo, ...]
    event: AuditEvent


@dataclass(frozen=True, slots=True)
class DecidedCheck:
    """A check decided: what it writes, and the answer it gives."""

    write: CheckWrite
    result: CheckResult


DecideCheck = Callable[[Connection | None], DecidedCheck]
"""Decides a check from reads made through the connection given (None: each read in a
short transaction of its own). It may run again after a rollback: it must do nothing
outside its reads but return its decision."""


class CheckLedger(Protocol):
    """Decides checks and commits what they write; returns only once it is durable."""

    def answer(self, decide: DecideCheck) -> tuple[DecidedCheck, CheckRow | None]:
        """Decide a check and commit its write.

        Returns:
            The decision whose write committed, and the check stored first under its
            request id if this is a retry (then nothing was written), else None.

        Raises:
            GatewayError: what ``decide`` raised (nothing of it was written).
            StorageError: the database failed, or the writer is out of reach.
        """
        ...

    def audit(self, event: AuditEvent) -> None:
        """Commit one audit event (a refused check, a refused call).

        Raises:
            StorageError: the database failed, or the writer is out of reach.
        """
        ...


class StoreCheckLedger:
    """The node's ledger: the store's one writer, group-committing."""

    def __init__(self, store: Store, router: MessageRouter) -> None:
        self._store = store
        self._repo = DisciplineRepository(store.engine)
        self._router = router

    def submit(self, write: CheckWrite) -> Completion[CheckRow | None]:
        """Queue ``write`` on the writer; it completes once its group committed.

        Raises:
            StorageError: the writer is closed.
        """
        # Replayable: _write does nothing outside the connection but wake the outbox's
        # sender (a report goes to another issuer, never handled here), which a second
        # run after a rollback only repeats harmlessly.
        return self._store.writer.submit(lambda conn: self._write(write, conn), replayable=True)

    def submit_audit(self, event: AuditEvent) -> Completion[None]:
        """Queue one audit event on the writer (see :meth:`submit`).

        Raises:
            StorageError: the writer is closed.
        """
        return self._store.writer.submit(
            lambda conn: self._store.audit.append([event], conn=conn), replayable=True
        )

    def answer(self, decide: DecideCheck) -> tuple[DecidedCheck, CheckRow | None]:
        def job(conn: Connection) -> tuple[DecidedCheck, CheckRow | None]:
            decided = decide(conn)
            return decided, self._write(decided.write, conn)

        # Replayable for the reason _write is, and decide() reads only.
        return self._store.writer.submit(job, replayable=True).result()

    def audit(self, event: AuditEvent) -> None:
        self._store.audit.append([event])

    def _write(self, write: CheckWrite, conn: Connection) -> CheckRow | None:
        check = write.check
        if not check.request_id:
            self._repo.add_check(check, write.hits, conn=conn)
        else:
            stored = self._repo.add_check_once(check, write.hits, conn=conn)
            if stored.check_id != check.check_id:
                # A retry: answered again, not stored, reported or audited again.
                return stored
        for report in write.reports:
            self._router.send(conn, target=report.issuer, kind=HIT_KIND, body=report.body)
        self._store.audit.append([write.event], conn=conn)
        return None
