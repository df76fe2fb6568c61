"""What a pending objection does to its record, per the issuer's rule, and the decision message."""

from __future__ import annotations

import pytest

from gateway.core.catalog import ObjectionSuspends
from gateway.core.discipline_messages import ObjectionOutcome
from gateway.core.errors import MalformedError
from gateway.core.record_status import RecordStatus
from gateway.core.remedies import (
    ObjectionDecision,
    ObjectionState,
    decided_state,
    pending_status,
    status_statement,
    supersedes,
)
from gateway.core.statements import StatusKind

FILED, ACCEPTED = ObjectionState.FILED, ObjectionState.ACCEPTED
HEX = "0123456789abcdef" * 2


@pytest.mark.parametrize(
    ("rule", "open_states", "status"),
    [
        # Huzhou 2018: 联合惩戒措施在信息核实期间暂不执行, from the moment it is filed.
        (ObjectionSuspends.ON_FILING, [FILED], RecordStatus.SUSPENDED),
        (ObjectionSuspends.ON_FILING, [ACCEPTED], RecordStatus.SUSPENDED),
        # In force, flagged, until the issuer accepts.
        (ObjectionSuspends.ON_ACCEPTANCE, [FILED], RecordStatus.DISPUTED),
        (ObjectionSuspends.ON_ACCEPTANCE, [ACCEPTED], RecordStatus.SUSPENDED),
        (ObjectionSuspends.ON_ACCEPTANCE, [FILED, ACCEPTED], RecordStatus.SUSPENDED),
        # Court lists may flag without suspending, even once accepted.
        (ObjectionSuspends.NEVER, [FILED], RecordStatus.DISPUTED),
        (ObjectionSuspends.NEVER, [ACCEPTED], RecordStatus.DISPUTED),
        # Nothing pending: back in force, whatever the rule.
        (ObjectionSuspends.ON_FILING, [], RecordStatus.ACTIVE),
        (ObjectionSuspends.ON_ACCEPTANCE, [], RecordStatus.ACTIVE),
        (ObjectionSuspends.NEVER, [], RecordStatus.ACTIVE),
    ],
)
def test_pending_status_per_rule(
    rule: ObjectionSuspends, open_states: list[ObjectionState], status: RecordStatus
) -> None:
    assert pending_status(rule, open_states) is status


@pytest.mark.parametrize(
    ("current", "wanted", "kind"),
    [
        ("active", RecordStatus.SUSPENDED, StatusKind.SUSPENSION),
        ("active", RecordStatus.DISPUTED, StatusKind.DISPUTE),
        ("disputed", RecordStatus.SUSPENDED, StatusKind.SUSPENSION),
        ("suspended", RecordStatus.ACTIVE, StatusKind.REINSTATEMENT),
        ("disputed", RecordStatus.ACTIVE, StatusKind.REINSTATEMENT),
        ("suspended", RecordStatus.SUSPENDED, None),
        ("active", RecordStatus.ACTIVE, None),
        # An objection's outcome never brings back a record that has left force.
        ("revoked", RecordStatus.ACTIVE, None),
        ("repaired", RecordStatus.SUSPENDED, None),
        ("corrected", RecordStatus.DISPUTED, None),
        ("expired", RecordStatus.ACTIVE, None),
    ],
)
def test_status_statement_moves_an_in_force_record_only(
    current: str, wanted: RecordStatus, kind: StatusKind | None
) -> None:
    assert status_statement(current, wanted) is kind


def test_each_decision_leaves_one_state_and_later_states_supersede_earlier_ones() -> None:
    assert {d: decided_state(d) for d in ObjectionDecision} == {
        ObjectionDecision.ACCEPT: ObjectionState.ACCEPTED,
        ObjectionDecision.REJECT: ObjectionState.REJECTED,
        ObjectionDecision.UPHOLD: ObjectionState.UPHELD,
        ObjectionDecision.DISMISS: ObjectionState.DISMISSED,
    }
    assert supersedes(ObjectionState.ACCEPTED, FILED)
    assert supersedes(ObjectionState.DISMISSED, ObjectionState.ACCEPTED)
    # A retried hop may deliver the acceptance after the dismissal: it is ignored.
    assert not supersedes(ObjectionState.ACCEPTED, ObjectionState.DISMISSED)
    assert not supersedes(ObjectionState.REJECTED, ObjectionState.REJECTED)


def test_the_decision_message_round_trips_and_refuses_bad_keys() -> None:
    outcome = ObjectionOutcome(
        objection_id=HEX,
        record_id="Rabc",
        version=1,
        decision="reject",
        decided_at=1_750_000_000,
        decided_by="admin:330500/credit-admin",
        resolution="not the listed company",
        statement_id="",
    )
    assert ObjectionOutcome.from_body(outcome.to_body()) == outcome
    with pytest.raises(MalformedError, match=r"^objection decision has unknown key 'state'$"):
        ObjectionOutcome.from_body({**outcome.to_body(), "state": "rejected"})
    with pytest.raises(
        MalformedError,
        match=r"^objection decision key 'decision' is 'ignore', not one of accept, reject, uphold",
    ):
        ObjectionOutcome.from_body({**outcome.to_body(), "decision": "ignore"})
    with pytest.raises(
        MalformedError, match=r"^objection decision key 'statement_id' is not 32 lowercase hex"
    ):
        ObjectionOutcome.from_body({**outcome.to_body(), "statement_id": "x"})
