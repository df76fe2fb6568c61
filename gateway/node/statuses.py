"""Status statements: issue them at the record's issuer, apply them everywhere, pass them on.

A correction, suspension, reinstatement, revocation or repair is a DSSE
statement signed by the node that issued the record. It travels to exactly the
nodes in the delivery ledger, hop by hop: each node applies it (revocation and
repair purge the disclosures, leaving a tombstone), forwards it to the
neighbours its own ledger lists, and confirms by acknowledging the batch.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence

from sqlalchemy import Connection

from gateway.core.algorithms import Signer
from gateway.core.audit import Decision, event_by, event_by_node, record_ref
from gateway.core.errors import AccessDeniedError, NotFoundError
from gateway.core.filing import check_status_call
from gateway.core.principal import Principal
from gateway.core.statements import (
    STATUS_EFFECT,
    StatusKind,
    StatusStatement,
    purges_disclosures,
    sign_statement,
)
from gateway.node.routing import enqueue_statements
from gateway.store import StatementRow, Store

__all__ = [
    "SignedStatement",
    "StatusService",
    "apply_statements",
    "statement_row",
]

SignedStatement = tuple[StatusStatement, bytes]


def statement_row(statement: StatusStatement, envelope_json: bytes) -> StatementRow:
    return StatementRow(
        statement_id=statement.statement_id,
        record_id=statement.record_id,
        version=statement.version,
        kind=statement.kind.value,
        issuer=statement.issuer,
        issued_at=statement.issued_at,
        envelope=envelope_json,
    )


def apply_statements(
    store: Store, conn: Connection, statements: Sequence[SignedStatement], *, now: int
) -> int:
    """Apply statements to the records held here; returns how many took effect."""
    applied: list[str] = []
    for statement, _data in statements:
        try:
            store.records.get(statement.record_id, statement.version, conn=conn)
        except NotFoundError:
            continue
        status = STATUS_EFFECT[statement.kind]
        if purges_disclosures(statement.kind):
            store.records.purge(statement.record_id, statement.version, status, now, conn=conn)
        else:
            store.records.set_status(statement.record_id, statement.version, status, now, conn=conn)
        applied.append(statement.statement_id)
    store.batches.mark_applied(applied, now, conn=conn)
    return len(applied)


class StatusService:
    """Issuing statements about records this node issued."""

    def __init__(
        self,
        *,
        node_id: str,
        signer: Signer,
        store: Store,
        clock: Callable[[], int],
        wake_sender: Callable[[], None],
    ) -> None:
        self._node_id = node_id
        self._signer = signer
        self._store = store
        self._clock = clock
        self._wake_sender = wake_sender

    def issue(
        self,
        principal: Principal,
        *,
        kind: StatusKind,
        record_id: str,
        version: int,
        reason: str,
    ) -> StatusStatement:
        """A status call: a correction or revocation by the filing department or the admin.

        Raises:
            NotFoundError: no such record version here.
            AccessDeniedError: the record was issued by another node; a kind
                reserved to a procedure; a caller who did not file the record
                (the RPC edge audits each refusal with the caller and the rule).
            InputError: no reason given.
        """
        filing = self._store.filings.get_many([record_id]).get(record_id)
        check_status_call(
            principal,
            kind,
            record_id=record_id,
            filed_by=filing.domain if filing else None,
            reason=reason,
        )
        return self.issue_for_procedure(
            principal, kind=kind, record_id=record_id, version=version, reason=reason
        )

    def issue_for_procedure(
        self,
        principal: Principal,
        *,
        kind: StatusKind,
        record_id: str,
        version: int,
        reason: str,
        new_version: int | None = None,
    ) -> StatusStatement:
        """Sign a statement about one of this node's records, apply it and send it on.

        For the procedures that decided it (objection, repair) and for
        :meth:`issue` once the filing rules allowed the call.

        Raises:
            NotFoundError: no such record version here.
            AccessDeniedError: the record was issued by another node.
            MalformedError: an invalid statement (e.g. empty reason).
        """
        now = self._clock()
        statement, data = self._sign(
            kind=kind,
            record_id=record_id,
            version=version,
            reason=reason,
            new_version=new_version,
            now=now,
            conn=None,
        )

        def job(conn: Connection) -> None:
            self._store_and_send(conn, statement, data, now=now)
            event = event_by(
                principal,
                node=self._node_id,
                time=now,
                action=f"status.{kind.value}",
                decision=Decision.ALLOWED,
                records=(record_ref(record_id, version),),
                detail=f"statement {statement.statement_id}",
            )
            self._store.audit.append([event], conn=conn)

        self._store.writer.submit(job).result()
        self._wake_sender()
        return statement

    def issue_by_node(
        self, conn: Connection, *, kind: StatusKind, record_id: str, version: int, reason: str
    ) -> StatusStatement:
        """Like :meth:`issue_for_procedure`, in ``conn``'s transaction, audited as this node.

        For what the node does on its own when a message arrives: the suspension
        or dispute an objection brings at filing, before any admin has decided.

        Raises:
            As :meth:`issue_for_procedure`.
        """
        now = self._clock()
        statement, data = self._sign(
            kind=kind,
            record_id=record_id,
            version=version,
            reason=reason,
            new_version=None,
            now=now,
            conn=conn,
        )
        self._store_and_send(conn, statement, data, now=now)
        event = event_by_node(
            self._node_id,
            time=now,
            action=f"status.{kind.value}",
            decision=Decision.ALLOWED,
            records=(record_ref(record_id, version),),
            detail=f"statement {statement.statement_id}: {reason}"[:500],
        )
        self._store.audit.append([event], conn=conn)
        self._wake_sender()
        return statement

    def _sign(
        self,
        *,
        kind: StatusKind,
        record_id: str,
        version: int,
        reason: str,
        new_version: int | None,
        now: int,
        conn: Connection | None,
    ) -> SignedStatement:
        row = self._store.records.get(record_id, version, conn=conn)
        if row.issuer != self._node_id:
            raise AccessDeniedError(
                f"record {record_id} was issued by node {row.issuer}: only its issuer may change "
                "its status (file an objection there)",
                rule="status:issuer-only",
            )
        statement = StatusStatement(
            statement_id=uuid.uuid4().hex,
            kind=kind,
            issuer=self._node_id,
            record_id=record_id,
            version=version,
            issued_at=now,
            reason=reason,
            new_version=new_version,
        )
        return statement, sign_statement(statement, self._signer).to_json()

    def _store_and_send(
        self, conn: Connection, statement: StatusStatement, data: bytes, *, now: int
    ) -> None:
        self._store.batches.add_statements([statement_row(statement, data)], conn=conn)
        apply_statements(self._store, conn, [(statement, data)], now=now)
        enqueue_statements(self._store, conn, self._node_id, [statement], exclude=None, now=now)
