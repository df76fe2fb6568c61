"""The lifecycle status of a record version, with the predicates every layer asks.

A record is issued ``active``; status statements move it to ``corrected``,
``suspended`` (objection accepted), back to ``active`` (reinstatement),
``revoked`` or ``repaired``; every holder marks it ``expired`` at its signed
``exp``. What a status allows is decided here, once: the store, the discipline
check, the query and outbound use cases all ask these predicates.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["RecordStatus", "is_disputed", "is_forwardable", "is_in_force"]


class RecordStatus(StrEnum):
    """Lifecycle states of a stored record version."""

    ACTIVE = "active"
    SUSPENDED = "suspended"
    """An objection was accepted by the issuer (the status a suspension statement leaves)."""
    CORRECTED = "corrected"
    REVOKED = "revoked"
    REPAIRED = "repaired"
    EXPIRED = "expired"


_IN_FORCE = frozenset({RecordStatus.ACTIVE, RecordStatus.SUSPENDED})
# A corrected version is superseded, not withdrawn: it is still served and
# forwarded (with its correction statement) so that every holder sees both.
_FORWARDABLE = frozenset({RecordStatus.ACTIVE, RecordStatus.SUSPENDED, RecordStatus.CORRECTED})


def is_in_force(status: str) -> bool:
    """True while a record (or notice) still counts: it may be objected to or repaired."""
    return status in _IN_FORCE


def is_forwardable(status: str) -> bool:
    """True while a record version may be served to callers and pushed to peers."""
    return status in _FORWARDABLE


def is_disputed(status: str) -> bool:
    """True if an accepted objection has suspended the record."""
    return status == RecordStatus.SUSPENDED
