"""The lifecycle status of a record version, with the predicates every layer asks.

A record is issued ``active``; status statements move it to ``corrected``,
``disputed`` or ``suspended`` (an objection is pending), back to ``active``
(reinstatement), ``revoked`` or ``repaired``; every holder marks it ``expired``
at its signed ``exp``. What a status allows is decided here, once: the store, the discipline
check, the query and outbound use cases all ask these predicates.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "RecordStatus",
    "is_disputed",
    "is_forwardable",
    "is_in_force",
    "measure_end",
    "measures_paused",
]


class RecordStatus(StrEnum):
    """Lifecycle states of a stored record version."""

    ACTIVE = "active"
    SUSPENDED = "suspended"
    """An objection is pending and the issuer paused the measures (a suspension statement)."""
    DISPUTED = "disputed"
    """An objection is pending and the measures stay in force: checks flag it (a dispute
    statement)."""
    CORRECTED = "corrected"
    REVOKED = "revoked"
    REPAIRED = "repaired"
    EXPIRED = "expired"


_IN_FORCE = frozenset({RecordStatus.ACTIVE, RecordStatus.SUSPENDED, RecordStatus.DISPUTED})
# A corrected version is superseded, not withdrawn: it is still served and
# forwarded (with its correction statement) so that every holder sees both.
_FORWARDABLE = _IN_FORCE | {RecordStatus.CORRECTED}
_PENDING_OBJECTION = frozenset({RecordStatus.SUSPENDED, RecordStatus.DISPUTED})


def is_in_force(status: str) -> bool:
    """True while a record (or notice) still counts: it may be objected to or repaired."""
    return status in _IN_FORCE


def is_forwardable(status: str) -> bool:
    """True while a record version may be served to callers and pushed to peers."""
    return status in _FORWARDABLE


def is_disputed(status: str) -> bool:
    """True while an objection to the record is pending (measures paused or not)."""
    return status in _PENDING_OBJECTION


def measures_paused(status: str) -> bool:
    """True if the issuer paused the record's measures while an objection is verified.

    The issuer's signed statement decides, under the issuer's catalog, so every
    holder answers the same whatever its own catalog says.
    """
    return status == RecordStatus.SUSPENDED


_ENDING = frozenset({RecordStatus.REVOKED, RecordStatus.REPAIRED, RecordStatus.EXPIRED})


def measure_end(status: str, exp: int, now: int) -> RecordStatus | None:
    """Why the measures of a notice held here ended, or None while they may still apply.

    Departments that acted on a hit must lift their measures then (Huzhou 2018:
    及时解除). A revocation or repair reaches the holder as a statement; expiry
    needs none: the signed ``exp`` counts from the moment it passes, before the
    holder's sweeper has marked the record ``expired``. A correction is not an
    end: the corrected version carries the measures on.
    """
    if status in _ENDING:
        return RecordStatus(status)
    if exp <= now and is_in_force(status):
        return RecordStatus.EXPIRED
    return None
