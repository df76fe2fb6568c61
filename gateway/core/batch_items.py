"""Batches and items: what a receiver answers for each record of a hop batch.

One bad record must not block the others of its batch (DESIGN §5, "Batches and
items"). A fault that shows the *sender* misbehaving (a bad hop signature, a
peer that may not push, a forged issuer signature, over-sharing, a record
changed under its signature) refuses the whole batch, and nothing of it is
stored. A record that only fails *validation* or a *time check* at the receiver
(its catalog or limits are stricter, its disclosure period has ended by the
receiver's clock, it is not valid yet) is refused alone: the others are stored,
and the sender parks it with the reason, or retries it later when the reason
passes with time. :func:`is_item_fault` is the one definition of that line.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from gateway.core.audit import error_detail
from gateway.core.errors import (
    DirectoryExpiredError,
    ExpiredError,
    InputError,
    passes_with_time,
)

__all__ = ["ItemOutcome", "ItemResult", "ReceiveResult", "is_item_fault", "refused_item"]


class ItemOutcome(StrEnum):
    """What became of one record of a received batch."""

    STORED = "stored"
    """Stored for the first time."""
    DUPLICATE = "duplicate"
    """Already held (idempotent by record id and version)."""
    REFUSED = "refused"
    """Refused alone (an item fault); the rest of the batch was stored."""


@dataclass(frozen=True, slots=True)
class ItemResult:
    """The receiver's answer for one record, in the batch's record order.

    Attributes:
        outcome: stored, duplicate or refused.
        reason: refused only: the receiver's error, class and message.
        passes_with_time: refused only: the reason may pass with time (clock
            skew, not yet valid), so the sender retries it with backoff rather
            than parking it for the operator.
    """

    outcome: ItemOutcome
    reason: str = ""
    passes_with_time: bool = False

    @property
    def delivered(self) -> bool:
        """The receiver holds the record (stored now or before)."""
        return self.outcome is not ItemOutcome.REFUSED


@dataclass(frozen=True, slots=True)
class ReceiveResult:
    """The receiver's acknowledgement of one batch, once it is durable.

    Attributes:
        batch_id: the id the hop batch carried.
        stored: records stored for the first time.
        duplicates: records already held.
        applied: statements applied.
        records: one result per record of the batch, in order; empty from a
            receiver that answers for the batch only (every record then held).
    """

    batch_id: str
    stored: int
    duplicates: int
    applied: int
    records: tuple[ItemResult, ...] = ()


def is_item_fault(exc: BaseException) -> bool:
    """True if ``exc``, raised by one record's checks, refuses that record alone.

    Item faults are validation (:class:`InputError`: the receiver's catalog or
    limits refuse it) and time checks (:class:`ExpiredError`: past its
    disclosure period, or not valid yet by this node's clock). Everything else
    shows the sender misbehaving and refuses the whole batch: a signature or
    digest that does not verify, a malformed or tampered SD-JWT, over-sharing
    or any policy denial. An expired federation directory is this node's state,
    not the record's: it refuses the batch (and passes with time).
    """
    if isinstance(exc, DirectoryExpiredError):
        return False
    return isinstance(exc, InputError | ExpiredError)


def refused_item(exc: BaseException) -> ItemResult:
    """The result of a record refused alone for ``exc`` (an item fault)."""
    return ItemResult(
        ItemOutcome.REFUSED, reason=error_detail(exc), passes_with_time=passes_with_time(exc)
    )
