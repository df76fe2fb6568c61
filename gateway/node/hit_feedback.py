"""Hits of checks made here and the departments' feedback on them, as values.

What :class:`gateway.node.discipline.DisciplineService` answers about hits (every check that
found a record, the hits still waiting for feedback, a page of them with its token) and the
feedback row a report becomes, at the department's node and at the issuer's.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.core.discipline_messages import FeedbackReport
from gateway.core.errors import InputError
from gateway.core.record_status import RecordStatus, measure_end
from gateway.store.discipline import FeedbackRow, HitKey, HitRow, OpenHitRow

__all__ = [
    "MAX_FEEDBACK_PAGE",
    "AwaitingFeedback",
    "AwaitingFeedbackPage",
    "HitsAndFeedback",
    "after_hit",
    "awaiting",
    "feedback_row",
    "hit_token",
]

MAX_FEEDBACK_PAGE = 1000
_MAX_HIT_TOKEN = 120


@dataclass(frozen=True, slots=True)
class HitsAndFeedback:
    record_id: str
    hits: list[HitRow]
    feedback: list[FeedbackRow]


@dataclass(frozen=True, slots=True)
class AwaitingFeedback:
    """A hit of a check made here that still waits for its department's feedback.

    Attributes:
        hit: the hit as the check stored it.
        status: the notice version's status here now.
        answered: the department reported what it did (e.g. ``applied``) already.
        lifted: why the notice's measures ended (revoked, repaired, expired), or None:
            the department must now lift its measure and say so (feedback ``lifted``).
        lifted_at: when they ended (the status change, or the signed ``exp``); 0 if not.
    """

    hit: HitRow
    status: str
    answered: bool
    lifted: RecordStatus | None
    lifted_at: int


@dataclass(frozen=True, slots=True)
class AwaitingFeedbackPage:
    """One page of hits awaiting feedback, oldest first, and the next page's token.

    A page reads ``limit`` hits of the department's and shows those still
    waiting, so it may show fewer, even none: the list ends where
    ``next_page_token`` is "", not at a short page.
    """

    hits: list[AwaitingFeedback]
    next_page_token: str


def awaiting(row: OpenHitRow, now: int) -> AwaitingFeedback | None:
    """``row`` as a hit awaiting feedback at ``now``, or None if it waits for nothing."""
    ended = measure_end(row.status, row.exp, now)
    if ended is None and row.answered:
        return None  # reported, and nothing to lift yet
    lifted_at = 0
    if ended is RecordStatus.EXPIRED:
        lifted_at = row.exp  # the sweeper may mark it later, or not yet at all
    elif ended is not None:
        lifted_at = row.status_changed_at
    return AwaitingFeedback(row.hit, row.status, row.answered, ended, lifted_at)


def hit_token(hit: HitRow) -> str:
    """The page token that continues after ``hit``."""
    return f"h:{hit.checked_at}:{hit.check_id}:{hit.record_id}"


def after_hit(token: str) -> HitKey | None:
    """The hit a page token continues after (None for the first page).

    Raises:
        InputError: a token this node did not issue.
    """
    if not token:
        return None
    kind, _, rest = token.partition(":")
    checked_at, _, key = rest.partition(":")
    check_id, _, record_id = key.partition(":")
    if (
        kind != "h"
        or not checked_at.isdigit()
        or not check_id
        or not record_id
        or len(token) > _MAX_HIT_TOKEN
    ):
        raise InputError("page_token is not one this node issued")
    return int(checked_at), check_id, record_id


def feedback_row(
    report: FeedbackReport, *, issuer: str, node: str, at: int, got: int
) -> FeedbackRow:
    """The row stored for a feedback report, sent from ``node`` at ``at``, received at ``got``."""
    return FeedbackRow(
        feedback_id=report.feedback_id,
        check_id=report.check_id,
        record_id=report.record_id,
        version=report.version,
        issuer=issuer,
        node=node,
        actor=report.department,
        domain=report.domain,
        action=report.action,
        note=report.note,
        case_id=report.case_id,
        checked_at=report.checked_at,
        reported_at=at,
        received_at=got,
    )
