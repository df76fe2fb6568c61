"""Objections (异议), credit repair (信用修复) and feedback: the rules, without I/O.

An objection is filed at any node and decided by the record's issuer:
accepted (the record is suspended everywhere it went), or rejected as
inadmissible; an accepted objection is then upheld (the record is revoked or
corrected) or dismissed (the record is back in force). The issuer must decide
within the category's ``objection_deadline_days`` of the filing.

Credit repair may be asked only once the category's minimum period after the
decision date has passed (NDRC 信用修复管理办法, 2025); approval purges the
record everywhere.

A department reports what it did about a hit as feedback: applied, not
applicable, or lifted.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from types import MappingProxyType

from gateway.core.catalog import Category, Severity
from gateway.core.errors import AccessDeniedError, ConflictError
from gateway.core.record_fields import add_months

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
    "next_objection_state",
    "objection_deadline",
    "repair_earliest",
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
