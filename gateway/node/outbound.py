"""Outbound hop batches: outbox items -> redacted records and statements, signed for one peer.

Used by the push worker (sender-initiated) and by the Pull handler (a child
catching up). A record goes out redacted for the recipient's place in the tree;
a purged, expired or no-longer-shared record never goes out.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field, replace

from sqlalchemy import Connection

from gateway.core.algorithms import Signer
from gateway.core.audit import Decision, event_by_node, record_ref, record_refs
from gateway.core.catalog import Catalog
from gateway.core.errors import NotFoundError
from gateway.core.hop import build_hop_batch, sign_hop_batch
from gateway.core.identifiers import SubjectType
from gateway.core.policy import SharePlan
from gateway.core.record_status import RecordStatus, is_forwardable
from gateway.core.records import redact_record
from gateway.core.statements import STATUS_EFFECT, StatusKind
from gateway.node.catalog_files import load_packaged_catalog
from gateway.node.forwards import ForwardPlans, ForwardRedactions
from gateway.node.routing import enqueue_held_statements
from gateway.store import Store
from gateway.store.outbox import DeliveryRow, OutboxItem, OutboxKind

__all__ = ["Outbound", "OutboundBatch"]

_NOT_RECORDS = frozenset({OutboxKind.MESSAGE.value, OutboxKind.STATEMENT.value})


@dataclass(frozen=True, slots=True)
class OutboundBatch:
    """A signed batch ready to send, and what to do with its outbox rows."""

    recipient: str
    batch_id: str
    envelope_json: bytes
    records: tuple[str, ...]
    statements: tuple[bytes, ...]
    record_items: tuple[OutboxItem, ...]
    statement_items: tuple[tuple[OutboxItem, str], ...]
    """Each statement's outbox row with the status it confers."""
    messages: tuple[bytes, ...] = field(default=())
    message_items: tuple[OutboxItem, ...] = field(default=())
    dropped: tuple[tuple[OutboxItem, str], ...] = field(default=())
    """Rows that must not go (purged, expired, not shared), with the reason."""

    @property
    def empty(self) -> bool:
        return not self.records and not self.statements and not self.messages

    def without_records(self, places: Collection[int]) -> OutboundBatch:
        """This batch less the records at ``places`` (0-based, in record order).

        What a peer that refused those records alone holds of the batch.
        """
        keep = [i for i in range(len(self.records)) if i not in places]
        return replace(
            self,
            records=tuple(self.records[i] for i in keep),
            record_items=tuple(self.record_items[i] for i in keep),
        )

    @property
    def last_id(self) -> int:
        ids = [i.id for i in (*self.record_items, *self.message_items)]
        ids += [i.id for i, _ in self.statement_items]
        ids += [i.id for i, _ in self.dropped]
        return max(ids, default=0)


class Outbound:
    """Builds and settles outbound batches for one node."""

    def __init__(
        self,
        *,
        node_id: str,
        catalog: Catalog,
        store: Store,
        signer: Signer,
        clock: Callable[[], int],
        redactions: ForwardRedactions,
        catalog_of: Callable[[str], Catalog] = load_packaged_catalog,
    ) -> None:
        """Wire the outbound side.

        Args:
            catalog_of: node id -> that node's catalog (national base plus its
                region's supplements), so nothing goes that the recipient does not list.
            redactions: redactions the receive side made ahead of the push.
        """
        self._plans = ForwardPlans(node_id=node_id, catalog=catalog, catalog_of=catalog_of)
        self._redactions = redactions
        self._node_id = node_id
        self._catalog = catalog
        self._store = store
        self._signer = signer
        self._clock = clock

    @property
    def redactions(self) -> ForwardRedactions:
        """The redactions the receive side made ahead of the push."""
        return self._redactions

    def build(self, recipient: str, items: Sequence[OutboxItem]) -> OutboundBatch:
        """Redact, collect and sign the items for ``recipient``."""
        now = self._clock()
        batch = self._sort(recipient, items, now=now, redact=True)
        if batch.empty:
            return batch
        hop = build_hop_batch(
            sender=self._node_id,
            audience=recipient,
            batch_id=batch.batch_id,
            sent_at=now,
            items=[*batch.records, *batch.statements, *batch.messages],
        )
        return replace(batch, envelope_json=sign_hop_batch(hop, self._signer).to_json())

    def acknowledge(self, recipient: str, items: Sequence[OutboxItem], conn: Connection) -> None:
        """The recipient holds these rows (served earlier, e.g. by Pull): settle them.

        Nothing is built or signed: the rows are sorted as :meth:`build` would
        sort them now, and those still forwardable are settled as delivered.
        """
        batch = self._sort(recipient, items, now=self._clock(), redact=False)
        self.settle(replace(batch, batch_id=""), conn)

    def _sort(
        self, recipient: str, items: Sequence[OutboxItem], *, now: int, redact: bool
    ) -> OutboundBatch:
        """The unsigned batch: each item collected (redacted if ``redact``) or dropped."""
        records: list[str] = []
        record_items: list[OutboxItem] = []
        statements: list[bytes] = []
        statement_items: list[tuple[OutboxItem, str]] = []
        dropped: list[tuple[OutboxItem, str]] = []
        messages: list[bytes] = []
        message_items: list[OutboxItem] = []
        # One query for the batch's records.
        stored = self._store.records.get_many(
            [(i.record_id, i.version) for i in items if i.kind not in _NOT_RECORDS]
        )
        for item in items:
            if item.kind == OutboxKind.MESSAGE.value:
                try:
                    messages.append(self._store.messages.get(item.payload_ref).envelope)
                except NotFoundError:
                    dropped.append((item, "message no longer stored"))
                    continue
                message_items.append(item)
                continue
            if item.kind == OutboxKind.STATEMENT.value:
                try:
                    row = self._store.batches.statement(item.payload_ref)
                except NotFoundError:
                    dropped.append((item, "statement no longer stored"))
                    continue
                statements.append(row.envelope)
                statement_items.append((item, STATUS_EFFECT[StatusKind(row.kind)]))
                continue
            record = stored.get((item.record_id, item.version))
            if record is None:
                dropped.append((item, "record no longer stored"))
                continue
            if record.sd_jwt is None or not is_forwardable(record.status) or record.exp <= now:
                dropped.append((item, f"record is {record.status} or expired: never forwarded"))
                continue
            plan = self._plans.plan(recipient, record.category, SubjectType(record.subject_type))
            if not plan.shared:
                dropped.append((item, f"not shared with {recipient} (rule {plan.rule})"))
                continue
            records.append(
                self._redacted(record.sd_jwt, recipient, plan) if redact else record.sd_jwt
            )
            record_items.append(item)
        return OutboundBatch(
            recipient=recipient,
            batch_id=uuid.uuid4().hex,
            envelope_json=b"",
            records=tuple(records),
            statements=tuple(statements),
            record_items=tuple(record_items),
            statement_items=tuple(statement_items),
            messages=tuple(messages),
            message_items=tuple(message_items),
            dropped=tuple(dropped),
        )

    def _redacted(self, sd_jwt: str, recipient: str, plan: SharePlan) -> str:
        """``sd_jwt`` redacted for ``recipient``: as the receive side made it, or now."""
        made = self._redactions.take(sd_jwt, recipient)
        return made if made is not None else redact_record(sd_jwt, plan)

    def settle(self, batch: OutboundBatch, conn: Connection) -> None:
        """After the recipient acknowledged: mark delivered, fill the ledger, audit."""
        now = self._clock()
        outbox = self._store.outbox
        outbox.mark_delivered([i.id for i in batch.record_items], now, conn=conn)
        outbox.mark_delivered([i.id for i, _ in batch.statement_items], now, conn=conn)
        outbox.mark_delivered([i.id for i in batch.message_items], now, conn=conn)
        outbox.record_delivery(
            [
                DeliveryRow(i.record_id, i.version, batch.recipient, now, RecordStatus.ACTIVE.value)
                for i in batch.record_items
            ],
            conn=conn,
        )
        if batch.record_items:
            enqueue_held_statements(
                self._store,
                conn,
                batch.recipient,
                [(i.record_id, i.version) for i in batch.record_items],
                now=now,
            )
        for item, status in batch.statement_items:
            try:
                outbox.confirm(
                    item.record_id, item.version, batch.recipient, status, now, conn=conn
                )
            except NotFoundError:
                # A statement about a version this node never delivered there: nothing to confirm.
                continue
        self.drop(batch, conn)
        if batch.empty:
            return
        self._store.audit.append(
            [
                event_by_node(
                    self._node_id,
                    time=now,
                    action="push.send",
                    decision=Decision.ALLOWED,
                    records=record_refs((i.record_id, i.version) for i in batch.record_items),
                    detail=(
                        f"batch {batch.batch_id} to {batch.recipient}: "
                        if batch.batch_id
                        else f"acknowledged by {batch.recipient}: "
                    )
                    + f"{len(batch.records)} records, {len(batch.statements)} statements, "
                    f"{len(batch.messages)} messages",
                )
            ],
            conn=conn,
        )

    def drop(self, batch: OutboundBatch, conn: Connection) -> None:
        """Retire rows that must never go, auditing each refusal."""
        if not batch.dropped:
            return
        now = self._clock()
        for item, reason in batch.dropped:
            self._store.outbox.mark_failed([item.id], reason, conn=conn)
        self._store.audit.append(
            [
                event_by_node(
                    self._node_id,
                    time=now,
                    action="push.withhold",
                    decision=Decision.DENIED,
                    rule=reason,
                    records=(record_ref(item.record_id, item.version),),
                    detail=f"not sent to {batch.recipient}",
                )
                for item, reason in batch.dropped
            ],
            conn=conn,
        )
