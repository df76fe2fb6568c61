"""What did not go out, and sending it again: the operator's view of the outbox.

A delivery that met trouble is never silent: a row the push worker gave up on
(``failed``: the peer refused the batch for good, or refused that record
alone with its reason, or it was withheld) and a
row still being retried after a failed try (``retrying``) are both listed
with the recipient, the item, the reason, the attempts so far and since when
it has waited. ``retry`` puts failed rows back in the queue (the operator
fixed the cause: a renewed directory, a peer repaired) and is audited as the
operator who ran it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy.engine import Connection

from gateway.core.audit import record_ref
from gateway.node.operator import Operator
from gateway.store import OutboxItem, OutboxKind, OutboxState, Store

__all__ = ["DeliveryTrouble", "OutboxAdmin", "TroubleState"]


class TroubleState(StrEnum):
    """Where a troubled delivery stands."""

    FAILED = "failed"
    """Given up: only ``gateway outbox retry`` sends it again."""
    RETRYING = "retrying"
    """Its last try failed; the push worker tries again at ``next_attempt_at``."""


@dataclass(frozen=True, slots=True)
class DeliveryTrouble:
    """One delivery that met trouble.

    Attributes:
        id: the outbox row, for ``gateway outbox retry --id``.
        recipient: the node it is for.
        kind: record, statement, notice or message.
        item: ``record_id@version``, or the message id for a routed message.
        state: failed or retrying.
        reason: the last failure, as the peer or the node said it.
        attempts: tries so far.
        since: when it was queued (Unix seconds).
        next_attempt_at: when the worker tries again (retrying rows).
    """

    id: int
    recipient: str
    kind: str
    item: str
    state: TroubleState
    reason: str
    attempts: int
    since: int
    next_attempt_at: int


def _trouble(row: OutboxItem) -> DeliveryTrouble:
    item = (
        row.payload_ref
        if row.kind == OutboxKind.MESSAGE.value
        else record_ref(row.record_id, row.version)
    )
    state = TroubleState.FAILED if row.state == OutboxState.FAILED.value else TroubleState.RETRYING
    return DeliveryTrouble(
        id=row.id,
        recipient=row.recipient,
        kind=row.kind,
        item=item,
        state=state,
        reason=row.last_error or "",
        attempts=row.attempts,
        since=row.created_at,
        next_attempt_at=row.next_attempt_at,
    )


class OutboxAdmin:
    """Lists troubled deliveries and requeues failed ones, auditing who did."""

    def __init__(self, store: Store, node_id: str, clock: Callable[[], int]) -> None:
        self._store = store
        self._node_id = node_id
        self._clock = clock

    def troubled(self, *, recipient: str | None = None, limit: int = 1000) -> list[DeliveryTrouble]:
        """Every failed or retrying delivery, oldest first.

        Raises:
            InputError: ``limit`` is not positive.
            StorageError: the database failed.
        """
        return [
            _trouble(row) for row in self._store.outbox.troubled(recipient=recipient, limit=limit)
        ]

    def retry(
        self, operator: Operator, *, ids: Sequence[int] = (), recipient: str | None = None
    ) -> list[int]:
        """Queue failed deliveries again, due now, in one transaction with its audit event.

        With ``ids``, those rows (rows that are not failed are left alone); else
        every failed row, of ``recipient`` when given. Returns the ids requeued.

        Raises:
            StorageError: the database failed.
        """
        now = self._clock()
        scope = f"ids {', '.join(map(str, ids))}" if ids else f"recipient {recipient or 'any'}"

        def requeue(conn: Connection) -> list[int]:
            rows = self._store.outbox.requeue_failed(
                ids=ids, recipient=recipient, now=now, conn=conn
            )
            self._store.audit.append(
                [
                    operator.allowed(
                        self._node_id,
                        time=now,
                        action="outbox.retry",
                        records=tuple(
                            record_ref(r.record_id, r.version) for r in rows if r.record_id
                        ),
                        detail=f"requeued {len(rows)} failed deliveries ({scope}): "
                        + ", ".join(str(r.id) for r in rows),
                    )
                ],
                conn=conn,
            )
            return [r.id for r in rows]

        return self._store.writer.submit(requeue).result()
