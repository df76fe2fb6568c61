"""Receiving a hop batch from a peer node: verify everything, store atomically, forward.

Order of checks (a fault of the sender refuses the whole batch, and nothing is stored):

1. the peer is a node the directory lists, with the TLS certificate it lists,
   and it is this node's parent or one of its children there;
2. the DSSE hop signature is the peer's, for this node, fresh, and covers
   exactly the items received;
3. every record verifies strictly against its issuer's signing certificate
   (valid at its issue time), comes up from a child only if that child's
   branch issued it, and carries no disclosure outside this node's
   entitlement (over-sharing refuses the whole batch);
4. every statement is signed by the node it names as issuer, and that node
   is the issuer of the record it concerns (checked against the record as
   held here, or as carried in the same batch): a statement signed by anyone
   else refuses the whole batch, so it is neither applied nor forwarded.

A pushed record that only fails validation or a time check here
(:func:`~gateway.core.batch_items.is_item_fault`) is refused alone: the
acknowledgement says so, with the reason, and the sender parks or retries it.
A pulled batch has no per-item answer (the child's cursor acknowledges all of
it), so there any refusal still refuses the batch.

Then, in one transaction: the batch evidence (its id guards against replay),
the records (idempotent by id and version), the statements and their effect,
the onward deliveries (outbox) and the audit events (the batch, and each
record refused alone).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection

from gateway.core.algorithms import Verifier
from gateway.core.audit import (
    Decision,
    error_detail,
    error_rule,
    event_by,
    event_by_node,
    record_refs,
)
from gateway.core.batch_items import ItemOutcome, ItemResult, ReceiveResult, refused_item
from gateway.core.catalog import Catalog
from gateway.core.digested import DigestedText
from gateway.core.dsse import Envelope
from gateway.core.errors import (
    AccessDeniedError,
    GatewayError,
    MalformedError,
    NotFoundError,
    SignatureError,
)
from gateway.core.hop import verify_hop_batch
from gateway.core.limits import Limits
from gateway.core.messages import RoutedMessage, verify_message
from gateway.core.principal import Principal
from gateway.core.record_fields import check_record_issuer
from gateway.core.records import SignedRecord
from gateway.core.related_persons import related_persons
from gateway.core.statements import StatusStatement, check_statement_bounds, verify_statement
from gateway.node.messages import MessageRouter
from gateway.node.metrics import NodeMetrics
from gateway.node.record_check import RecordCheck, RecordChecker
from gateway.node.routing import enqueue_records, enqueue_statements
from gateway.node.statuses import SignedStatement, apply_statements, statement_row
from gateway.node.trust import FederationTrust
from gateway.store import PutOutcome, RecordRow, RecordStatus, Store

__all__ = ["CATCH_UP_STREAM", "FederationReceiver", "ReceiveResult"]

CATCH_UP_STREAM = "outbox"
"""Cursor stream name: the parent's outbox position this child has applied."""


@dataclass(frozen=True, slots=True)
class _Incoming:
    batch_id: str
    sender: str
    envelope_json: bytes
    records: Sequence[SignedRecord]
    statements: Sequence[SignedStatement]
    messages: Sequence[tuple[RoutedMessage, bytes]] = ()
    cursor: int = 0
    refused: Sequence[tuple[int, GatewayError]] = ()
    """Records refused alone: (0-based position in the batch, the item fault)."""
    principal: Principal | None = None
    """The pushing peer as it connected (its refusals are attributed to it); None on Pull."""
    record_count: int = 0
    """Records the batch carried, verified and refused."""


class FederationReceiver:
    """The receiving side of Push (and of Pull, at the child)."""

    def __init__(
        self,
        *,
        node_id: str,
        parent: str | None,
        catalog: Catalog,
        trust: FederationTrust,
        store: Store,
        clock: Callable[[], int],
        limits: Limits,
        wake_sender: Callable[[], None],
        router: MessageRouter | None = None,
        metrics: NodeMetrics | None = None,
        records: RecordChecker | None = None,
    ) -> None:
        """``records`` checks the records of each batch (default: in this process)."""
        self._records = records or RecordCheck(
            node_id=node_id, parent=parent, catalog=catalog, trust=trust, limits=limits
        )
        self._metrics = metrics if metrics is not None else NodeMetrics()
        self._router = router
        self._node_id = node_id
        self._parent = parent
        self._catalog = catalog
        self._trust = trust
        self._store = store
        self._clock = clock
        self._limits = limits
        self._wake_sender = wake_sender

    def receive(
        self,
        principal: Principal,
        envelope_json: bytes,
        records: Sequence[str],
        statements: Sequence[bytes],
        messages: Sequence[bytes] = (),
    ) -> ReceiveResult:
        """Verify and store one hop batch pushed by ``principal``.

        A record that fails only validation or a time check is refused alone
        (see the module docstring); the result says so for each record.

        Raises:
            AccessDeniedError: the peer is not a node of the directory, nor this
                node's parent or child there, a child passes up a record its
                branch did not issue, or a statement is signed by another node
                than its record's issuer.
            VerificationError: a signature, digest, record or statement fails
                (a record's time check only when it is not refused alone).
            ScopeViolationError: a record carries more than this node may see.
            ReplayError: the batch id was received before.
        """
        self._metrics.records_received("push", len(records))
        with self._metrics.refusals("push", len(records)):
            self._trust.check_peer(principal)
            self._trust.directory().check_neighbour(self._node_id, principal.node_id)
            result = self._receive(
                principal.node_id,
                envelope_json,
                records,
                statements,
                messages,
                cursor=0,
                pusher=principal,
            )
        self._metrics.records_stored("push", result.stored)
        return result

    def receive_pulled(
        self,
        parent: str,
        envelope_json: bytes,
        records: Sequence[str],
        statements: Sequence[bytes],
        messages: Sequence[bytes],
        *,
        cursor: int,
    ) -> ReceiveResult:
        """Verify and store a batch pulled from the parent; advance the catch-up cursor with it.

        The connection was opened by this node to its parent's listed endpoint;
        the parent's hop signature proves the batch is the parent's.

        Raises:
            As :meth:`receive`.
        """
        self._metrics.records_received("pull", len(records))
        with self._metrics.refusals("pull", len(records)):
            self._trust.directory().node(parent)
            result = self._receive(
                parent, envelope_json, records, statements, messages, cursor=cursor, pusher=None
            )
        self._metrics.records_stored("pull", result.stored)
        return result

    def _receive(
        self,
        sender: str,
        envelope_json: bytes,
        records: Sequence[str],
        statements: Sequence[bytes],
        messages: Sequence[bytes],
        *,
        cursor: int,
        pusher: Principal | None,
    ) -> ReceiveResult:
        """Verify and store one batch; ``pusher`` (a Push, not a Pull) allows refusing records
        alone: only a pushed batch's acknowledgement answers for each record."""
        now = self._clock()
        self._limits.check_count(
            "items in one batch",
            len(records) + len(statements) + len(messages),
            self._limits.max_batch_records,
        )
        envelope = Envelope.from_json(envelope_json, limits=self._limits)
        # Each record is hashed once: the hop batch's item digest is checked with the digest
        # taken here, and the same digest is the one the record is stored under.
        records = [DigestedText(text) for text in records]
        batch = verify_hop_batch(
            envelope,
            resolve_key=self._hop_keys_of(sender),
            expected_sender=sender,
            expected_audience=self._node_id,
            items=[*records, *statements, *messages],
            now=now,
            limits=self._limits,
        )
        verified: list[SignedRecord] = []
        refused: list[tuple[int, GatewayError]] = []
        checked = self._records.check(records, sender=sender, now=now, alone=pusher is not None)
        for index, outcome in enumerate(checked):
            if isinstance(outcome, GatewayError):
                refused.append((index, outcome))
            else:
                verified.append(outcome)
        stmts = [(self._verify_statement(data), data) for data in statements]
        msgs = [(self._verify_message(data), data) for data in messages]
        incoming = _Incoming(
            batch.batch_id,
            sender,
            envelope_json,
            verified,
            stmts,
            msgs,
            cursor,
            refused=refused,
            record_count=len(records),
            principal=pusher,
        )
        result = self._store.writer.submit(
            lambda conn: self._store_batch(conn, incoming, now)
        ).result()
        for _index, fault in refused:
            # Only pushes refuse records alone.
            self._metrics.records_refused("push", type(fault).__name__, 1)
        self._wake_sender()
        return result

    def _keys_of(self, node: str) -> Callable[[str], Verifier]:
        def resolve(kid: str) -> Verifier:
            if self._trust.owner(kid) != node:
                raise SignatureError(f"key {kid[:16]}… is not a signing key of node {node}")
            return self._trust.resolve(kid)

        return resolve

    def _hop_keys_of(self, node: str) -> Callable[[str], Verifier]:
        """A hop is signed as it is sent: by a key of ``node`` in force now, never a retired one
        (records and statements it carries may be older, and are checked at their own times)."""
        keys = self._keys_of(node)

        def resolve(kid: str) -> Verifier:
            verifier = keys(kid)
            self._trust.check_in_force(node, kid, skew_s=self._limits.clock_skew_s)
            return verifier

        return resolve

    def _verify_statement(self, data: bytes) -> StatusStatement:
        envelope = Envelope.from_json(data, limits=self._limits)
        claimed = StatusStatement.from_payload(envelope.payload)
        statement = verify_statement(envelope, resolve_key=self._keys_of(claimed.issuer))
        check_statement_bounds(statement, self._limits)
        return statement

    def _verify_message(self, data: bytes) -> RoutedMessage:
        envelope = Envelope.from_json(data, limits=self._limits)
        return verify_message(
            envelope, resolve_key=self._trust.resolve, key_owner=self._trust.owner
        )

    def _store_batch(self, conn: Connection, incoming: _Incoming, now: int) -> ReceiveResult:
        batch_id, sender = incoming.batch_id, incoming.sender
        records, statements = incoming.records, incoming.statements
        self._check_statement_issuers(conn, statements, records)
        rows = [_row(record, sender, now, self._catalog) for record in records]
        statement_rows = [statement_row(s, data) for s, data in statements]
        outcomes = self._store.batches.accept_batch(
            batch_id,
            sender,
            incoming.envelope_json,
            rows,
            statement_rows,
            received_at=now,
            conn=conn,
        )
        for record, outcome in zip(records, outcomes, strict=True):
            if outcome is PutOutcome.CONFLICT:
                raise MalformedError(
                    f"record {record.record_id} v{record.version} differs from the copy held here"
                )
        self._enqueue_forwards(
            conn,
            [r for r, o in zip(records, outcomes, strict=True) if o is PutOutcome.INSERTED],
            sender,
            now,
        )
        applied = apply_statements(self._store, conn, statements, now=now)
        if incoming.messages and self._router is not None:
            self._router.accept(conn, incoming.messages, now=now)
        if incoming.cursor:
            self._store.cursors.advance(sender, CATCH_UP_STREAM, incoming.cursor, conn=conn)
        enqueue_statements(
            self._store, conn, self._node_id, [s for s, _ in statements], exclude=sender, now=now
        )
        refused_note = f", {len(incoming.refused)} refused alone" if incoming.refused else ""
        self._store.audit.append(
            [
                event_by_node(
                    self._node_id,
                    time=now,
                    actor_node=sender,
                    action="push.receive",
                    decision=Decision.ALLOWED,
                    records=record_refs((r.record_id, r.version) for r in records),
                    detail=f"batch {batch_id}: {len(records)} records{refused_note}, "
                    f"{len(statements)} statements",
                ),
                *(
                    event_by(
                        incoming.principal,
                        node=self._node_id,
                        time=now,
                        action="push.receive",
                        decision=Decision.DENIED,
                        rule=error_rule(exc),
                        detail=f"batch {batch_id}: record {index + 1} refused alone: "
                        + error_detail(exc),
                    )
                    for index, exc in incoming.refused
                ),
            ],
            conn=conn,
        )
        inserted = sum(1 for o in outcomes if o is PutOutcome.INSERTED)
        return ReceiveResult(
            batch_id,
            inserted,
            len(outcomes) - inserted,
            applied,
            _item_results(incoming.record_count, outcomes, incoming.refused),
        )

    def _check_statement_issuers(
        self,
        conn: Connection,
        statements: Sequence[SignedStatement],
        records: Sequence[SignedRecord],
    ) -> None:
        """Refuse a statement about a record that its signer did not issue.

        Raises:
            AccessDeniedError: naming the statement, the record, the signer and the issuer.
        """
        in_batch = {(r.record_id, r.version): r.issuer for r in records}
        for statement, _data in statements:
            issuer = in_batch.get((statement.record_id, statement.version))
            if issuer is None:
                try:
                    row = self._store.records.get(statement.record_id, statement.version, conn=conn)
                except NotFoundError:
                    # Not held here: the id alone says whose record it is.
                    check_record_issuer(
                        statement.record_id,
                        statement.issuer,
                        what=f"statement {statement.statement_id} about record",
                    )
                    continue
                issuer = row.issuer
            if issuer != statement.issuer:
                raise AccessDeniedError(
                    f"statement {statement.statement_id} about record {statement.record_id} "
                    f"v{statement.version} is signed by node {statement.issuer}, "
                    f"not by the record's issuer {issuer}",
                    rule="statement:issuer-only",
                )

    def _enqueue_forwards(
        self, conn: Connection, records: Sequence[SignedRecord], sender: str, now: int
    ) -> None:
        enqueue_records(
            self._store,
            conn,
            ((r.record_id, r.version, r.category, r.subject_type) for r in records),
            origin=sender,
            parent=self._parent,
            children=self._trust.directory().children_of(self._node_id),
            catalog=self._catalog,
            now=now,
        )


def _item_results(
    count: int, outcomes: Sequence[PutOutcome], refused: Sequence[tuple[int, GatewayError]]
) -> tuple[ItemResult, ...]:
    """One result per record of the batch, in order: the refused ones at their places."""
    by_index = {index: refused_item(exc) for index, exc in refused}
    held = iter(outcomes)
    return tuple(
        by_index[index]
        if index in by_index
        else ItemResult(
            ItemOutcome.STORED if next(held) is PutOutcome.INSERTED else ItemOutcome.DUPLICATE
        )
        for index in range(count)
    )


def _row(record: SignedRecord, sender: str, now: int, catalog: Catalog) -> RecordRow:
    category = catalog.category(record.category)
    subject_field = category.subject_fields.get(record.subject_type)
    subject_key = record.clear.get(subject_field, "") if subject_field else ""
    return RecordRow(
        record_id=record.record_id,
        version=record.version,
        issuer=record.issuer,
        category=record.category,
        subject_type=record.subject_type.value,
        subject_key=subject_key,
        document_number=record.clear.get(category.document_field, "")[:128],
        status=RecordStatus.ACTIVE.value,
        iat=record.issued_at,
        exp=record.expires_at,
        sd_jwt=record.sd_jwt,
        origin=sender,
        stored_at=now,
        status_changed_at=now,
        # Only the numbers this node was sent in clear: never guessed from a masked variant.
        persons=related_persons(category, record.clear),
    )
