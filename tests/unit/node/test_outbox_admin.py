"""The operator's view of the outbox: troubled deliveries listed, failed ones requeued."""

from __future__ import annotations

import pytest

from gateway.core.audit import Decision
from gateway.core.errors import InputError
from gateway.node.operator import Operator
from gateway.node.outbox_admin import OutboxAdmin, TroubleState
from gateway.store import OutboxEntry, OutboxState, Store
from tests.unit.store.conftest import NOW

OPERATOR = Operator(user="ops", host="gw-huzhou-1")


def _queue(store: Store) -> list[int]:
    """Four deliveries: one failed, one retrying, one pending untouched, one failed message."""
    store.outbox.enqueue_many(
        [
            OutboxEntry("330000", "record", "R1", 1),
            OutboxEntry("330000", "record", "R2", 3),
            OutboxEntry("330000", "record", "R3", 1),
            OutboxEntry("331100", "message", "", 0, payload_ref="M9"),
        ],
        now=NOW,
    )
    claimed = store.outbox.claim("330000", worker="w", limit=3, now=NOW, lease_s=60)
    messages = store.outbox.claim("331100", worker="w", limit=1, now=NOW, lease_s=60)
    r1, r2, r3 = (item.id for item in claimed)
    store.outbox.mark_failed([r1], "PERMISSION_DENIED: batch refused by 330000")
    store.outbox.mark_retry([r2], "UNAVAILABLE: connection refused", NOW + 30)
    store.outbox.mark_delivered([r3], NOW)
    store.outbox.mark_failed([messages[0].id], "INVALID_ARGUMENT: message too large")
    return [r1, r2, r3, messages[0].id]


def test_failed_and_retrying_deliveries_are_listed_with_reason_attempts_and_since(
    store: Store,
) -> None:
    r1, r2, _r3, m9 = _queue(store)
    admin = OutboxAdmin(store, "330500", lambda: NOW + 100)
    rows = admin.troubled()
    assert [(r.id, r.recipient, r.kind, r.item, r.state, r.attempts, r.since) for r in rows] == [
        (r1, "330000", "record", "R1@1", TroubleState.FAILED, 1, NOW),
        (r2, "330000", "record", "R2@3", TroubleState.RETRYING, 1, NOW),
        (m9, "331100", "message", "M9", TroubleState.FAILED, 1, NOW),
    ]
    assert [r.reason for r in rows] == [
        "PERMISSION_DENIED: batch refused by 330000",
        "UNAVAILABLE: connection refused",
        "INVALID_ARGUMENT: message too large",
    ]
    assert [r.id for r in admin.troubled(recipient="331100")] == [m9]
    assert [r.id for r in admin.troubled(limit=1)] == [r1]
    with pytest.raises(InputError, match="a listing needs a positive limit, got 0"):
        admin.troubled(limit=0)


def test_retry_requeues_failed_rows_due_now_and_audits_the_operator(store: Store) -> None:
    r1, r2, _r3, m9 = _queue(store)
    admin = OutboxAdmin(store, "330500", lambda: NOW + 100)
    size = store.audit.size()

    assert admin.retry(OPERATOR, recipient="330000") == [r1]

    again = store.outbox.get(r1)
    assert (again.state, again.next_attempt_at, again.claimed_by) == (
        OutboxState.PENDING.value,
        NOW + 100,
        None,
    )
    # The retrying row is the worker's, and the other recipient's failure stays.
    assert store.outbox.get(r2).next_attempt_at == NOW + 30
    assert store.outbox.get(m9).state == OutboxState.FAILED.value
    [event] = [e.event for e in store.audit.events(after=size - 1)]
    assert (event.actor, event.address, event.fingerprint, event.action, event.decision) == (
        "operator:330500/ops",
        "gw-huzhou-1",
        "",
        "outbox.retry",
        Decision.ALLOWED,
    )
    assert event.records == ("R1@1",)
    assert event.detail == f"requeued 1 failed deliveries (recipient 330000): {r1}"
    # Due and pending again: the push worker claims it with the retrying row.
    claimed = store.outbox.claim("330000", worker="w2", limit=5, now=NOW + 100, lease_s=60)
    assert [item.id for item in claimed] == [r1, r2]


def test_retry_by_id_leaves_rows_that_are_not_failed_alone(store: Store) -> None:
    r1, r2, r3, m9 = _queue(store)
    admin = OutboxAdmin(store, "330500", lambda: NOW + 5)
    assert admin.retry(OPERATOR, ids=[r2, r3, m9]) == [m9]
    assert store.outbox.get(r1).state == OutboxState.FAILED.value
    assert store.outbox.get(r3).state == OutboxState.DELIVERED.value
    assert admin.retry(OPERATOR) == [r1]
    assert admin.retry(OPERATOR) == []
