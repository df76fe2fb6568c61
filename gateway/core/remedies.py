"""Objections (异议), credit repair (信用修复) and feedback: the rules, without I/O.

An objection is filed at any node and decided by the record's issuer:
accepted, or rejected as inadmissible; an accepted objection is then upheld
(the record is revoked or corrected) or dismissed (the record is back in
force). The issuer must decide within the category's
``objection_deadline_days`` of the filing, and every decision goes back to
the node where the objection was filed.

While objections are pending, the issuer's catalog (``objection_suspends``)
says what the record's status is everywhere it went (:func:`pending_status`):
``suspended`` (measures paused) from filing or from acceptance, else
``disputed`` (measures in force, checks flag the objection). Huzhou 2018:
联合惩戒措施在信息核实期间暂不执行.

Credit repair may be asked only once the category's minimum period after the
decision date has passed (NDRC 信用修复管理办法, 2025); approval purges the
record everywhere.

A department reports what it did about a hit as feedback: applied, not
applicable, or lifted.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date
from enum import StrEnum
from types import MappingProxyType

from gateway.core.catalog import Category, ObjectionSuspends, Severity
from gateway.core.errors import AccessDeniedError, ConflictError
from gateway.core.record_fields import add_months
from gateway.core.record_status import RecordStatus, is_in_force
from gateway.core.statements import StatusKind

__all__ = [
    "OPEN_OBJECTION_STATES",
    "SECONDS_PER_DAY",
    "FeedbackAction",
    "ObjectionDecision",
    "ObjectionState",
    "RepairDecision",
    "RepairState",
    "check_repair_time",
    "decide_repair",
    "decided_state",
    "next_objection_state",
    "objection_deadline",
    "pending_status",
    "repair_earliest",
    "status_statement",
    "supersedes",
]

SECONDS_PER_DAY = 86_400


class FeedbackAction(StrEnum):
    """What a department did about a hit (发起-响应-反馈)."""

    APPLIED = "applied"
    NOT_APPLICABLE = "not_applicable"
    LIFTED = "lifted"


class ObjectionState(StrEnum):
    """Where an objection stands at the issuer."""

    FILED = "filed"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    UPHELD = "upheld"
    DISMISSED = "dismissed"


class ObjectionDecision(StrEnum):
    """What the issuer decides about an objection."""

    ACCEPT = "accept"
    REJECT = "reject"
    UPHOLD = "uphold"
    DISMISS = "dismiss"


OPEN_OBJECTION_STATES = frozenset({ObjectionState.FILED, ObjectionState.ACCEPTED})
"""States in which the issuer still owes a decision (and can be overdue)."""

_OBJECTION_MOVES = MappingProxyType(
    {
        (ObjectionState.FILED, ObjectionDecision.ACCEPT): ObjectionState.ACCEPTED,
        (ObjectionState.FILED, ObjectionDecision.REJECT): ObjectionState.REJECTED,
        (ObjectionState.ACCEPTED, ObjectionDecision.UPHOLD): ObjectionState.UPHELD,
        (ObjectionState.ACCEPTED, ObjectionDecision.DISMISS): ObjectionState.DISMISSED,
    }
)


def next_objection_state(state: ObjectionState, decision: ObjectionDecision) -> ObjectionState:
    """The state ``decision`` moves an objection in ``state`` to.

    Raises:
        ConflictError: naming both, if the decision does not apply in that state
            (e.g. upholding an objection that was never accepted).
    """
    try:
        return _OBJECTION_MOVES[(state, decision)]
    except KeyError:
        allowed = sorted(d.value for s, d in _OBJECTION_MOVES if s is state)
        raise ConflictError(
            f"an objection that is {state.value} cannot be decided {decision.value!r} "
            f"(allowed: {', '.join(allowed) or 'nothing, it is closed'})"
        ) from None


def decided_state(decision: ObjectionDecision) -> ObjectionState:
    """The state ``decision`` leaves an objection in (each decision has one)."""
    return next(to for (_state, made), to in _OBJECTION_MOVES.items() if made is decision)


_STAGE = MappingProxyType(
    {
        ObjectionState.FILED: 0,
        ObjectionState.ACCEPTED: 1,
        ObjectionState.REJECTED: 1,
        ObjectionState.UPHELD: 2,
        ObjectionState.DISMISSED: 2,
    }
)


def supersedes(new: ObjectionState, old: ObjectionState) -> bool:
    """Whether ``new`` comes after ``old`` in an objection's life.

    Decisions reach the filing node as messages that a retried hop may reorder:
    an acceptance arriving after the dismissal must not reopen the objection.
    """
    return _STAGE[new] > _STAGE[old]


def pending_status(
    rule: ObjectionSuspends, open_states: Collection[ObjectionState]
) -> RecordStatus:
    """The status a record has while objections in ``open_states`` are pending.

    Args:
        rule: the issuer's ``objection_suspends`` for the record's category.
        open_states: the states of the record's open objections (filed or accepted).

    Returns:
        ``active`` with none pending; ``suspended`` when the rule pauses the
        measures from filing, or from acceptance and one is accepted; otherwise
        ``disputed`` (measures in force, checks flag the objection).
    """
    if not open_states:
        return RecordStatus.ACTIVE
    if rule is ObjectionSuspends.ON_FILING or (
        rule is ObjectionSuspends.ON_ACCEPTANCE and ObjectionState.ACCEPTED in open_states
    ):
        return RecordStatus.SUSPENDED
    return RecordStatus.DISPUTED


_STATEMENT_TO = MappingProxyType(
    {
        RecordStatus.ACTIVE: StatusKind.REINSTATEMENT,
        RecordStatus.SUSPENDED: StatusKind.SUSPENSION,
        RecordStatus.DISPUTED: StatusKind.DISPUTE,
    }
)


def status_statement(current: str, wanted: RecordStatus) -> StatusKind | None:
    """The statement that moves a record from ``current`` to ``wanted``, if one is needed.

    Args:
        current: the record's status at the issuer.
        wanted: what :func:`pending_status` answered.

    Returns:
        None when it is there already, or no longer in force (a revoked, repaired
        or corrected record is never brought back by an objection's outcome).
    """
    if current == wanted or not is_in_force(current):
        return None
    return _STATEMENT_TO[wanted]


def objection_deadline(filed_at: int, category: Category) -> int:
    """Unix time by which the issuer must decide an objection filed at ``filed_at``."""
    return filed_at + category.objection_deadline_days * SECONDS_PER_DAY


class RepairState(StrEnum):
    """Where a credit repair application stands at the issuer."""

    PENDING = "pending"
    APPROVED = "approved"
    REFUSED = "refused"


class RepairDecision(StrEnum):
    APPROVE = "approve"
    REFUSE = "refuse"


def decide_repair(state: RepairState, decision: RepairDecision) -> RepairState:
    """The state after ``decision``; only a pending application can be decided.

    Raises:
        ConflictError: the application was already decided.
    """
    if state is not RepairState.PENDING:
        raise ConflictError(f"the repair application was already {state.value}")
    return RepairState.APPROVED if decision is RepairDecision.APPROVE else RepairState.REFUSED


def repair_earliest(category: Category, severity: Severity, decided: date) -> date:
    """The first day credit repair may be asked for a record decided on ``decided``.

    Raises:
        AccessDeniedError: the category has no credit repair for ``severity``
            (red lists, licences: nothing to repair).
    """
    months = category.repair_min_months.get(severity)
    if months is None:
        raise AccessDeniedError(
            f"category {category.code} ({severity.value}) has no credit repair",
            rule="repair:not-repairable",
        )
    return add_months(decided, months)


def check_repair_time(category: Category, severity: Severity, decided: date, today: date) -> None:
    """Refuse an application made before the category's minimum period has passed.

    Raises:
        AccessDeniedError: naming the earliest date, if ``today`` is before it,
            or if the category has no credit repair.
    """
    earliest = repair_earliest(category, severity, decided)
    if today < earliest:
        raise AccessDeniedError(
            f"credit repair of a {category.code} record decided on {decided.isoformat()} may be "
            f"asked from {earliest.isoformat()} (minimum period "
            f"{category.repair_min_months[severity]} months), not on {today.isoformat()}",
            rule="repair:minimum-period",
        )
