"""A stored record version as a row: its fields, their limits, and what storing it did.

:class:`RecordRow` checks what SQLite would not (column lengths, the status),
so both backends refuse the same rows with the same error; the SD-JWT's digest
is taken here when the caller has not taken it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from gateway.core.digested import sha256_hex
from gateway.core.errors import InputError
from gateway.core.record_status import RecordStatus
from gateway.core.related_persons import RelatedPerson

__all__ = ["PutOutcome", "RecordKey", "RecordRow", "check_status", "sd_jwt_digest"]

RecordKey = tuple[str, int]


class PutOutcome(StrEnum):
    """What storing one record version did."""

    INSERTED = "inserted"
    DUPLICATE = "duplicate"
    """Same (record id, version) already stored with the same digest: nothing changed."""
    CONFLICT = "conflict"
    """Same (record id, version) already stored with a different digest: nothing changed."""


def sd_jwt_digest(sd_jwt: str) -> str:
    """Hex SHA-256 of an SD-JWT's compact text, as stored in ``record.digest`` (a
    :class:`~gateway.core.digested.DigestedText` gives the digest it took of itself)."""
    return sha256_hex(sd_jwt)


_MAX_CHARS = {
    "record_id": 40,
    "issuer": 6,
    "category": 64,
    "subject_type": 16,
    "subject_key": 64,
    "document_number": 128,
    "origin": 16,
    "content_digest": 64,
}


_STATUSES = frozenset(status.value for status in RecordStatus)


def check_status(status: str) -> None:
    if status not in _STATUSES:
        raise InputError(f"unknown record status {status!r}")


@dataclass(frozen=True, slots=True)
class RecordRow:
    """One record version as stored. ``sd_jwt`` is None for a purged tombstone.

    ``digest`` is computed from ``sd_jwt`` when left empty. ``content_digest``
    is the issuer's digest of the submitted fields, ``""`` when unknown
    (records received from peers). ``persons`` are the people the record
    names in clear (:mod:`gateway.core.related_persons`): written to the
    person index with the row, not read back with it.

    Raises:
        InputError: a field is longer than its column, the status is unknown,
            or neither ``sd_jwt`` nor ``digest`` is given.
    """

    record_id: str
    version: int
    issuer: str
    category: str
    subject_type: str
    subject_key: str
    document_number: str
    status: str
    iat: int
    exp: int
    sd_jwt: str | None
    origin: str
    stored_at: int
    status_changed_at: int
    digest: str = ""
    content_digest: str = ""
    persons: tuple[RelatedPerson, ...] = ()
    digest_derived: bool = field(default=False, init=False, repr=False, compare=False)
    """True when ``digest`` was computed here from ``sd_jwt`` (so the store need not check it)."""

    def __post_init__(self) -> None:
        # Checked here so that SQLite (which ignores VARCHAR lengths) and
        # PostgreSQL refuse the same rows with the same error.
        for name, limit in _MAX_CHARS.items():
            value: str = getattr(self, name)
            if len(value) > limit:
                raise InputError(f"record field {name} is {len(value)} characters, over {limit}")
        check_status(self.status)
        if not self.digest:
            if self.sd_jwt is None:
                raise InputError(
                    f"record {self.record_id} v{self.version} has no sd_jwt and no digest"
                )
            object.__setattr__(self, "digest", sd_jwt_digest(self.sd_jwt))
            object.__setattr__(self, "digest_derived", True)
        if self.sd_jwt is not None and type(self.sd_jwt) is not str:
            # A DigestedText (or other str subclass) is stored as the plain text it is,
            # so the drivers bind it as any other string.
            object.__setattr__(self, "sd_jwt", str(self.sd_jwt))

    @property
    def key(self) -> RecordKey:
        """(record id, version)."""
        return (self.record_id, self.version)

    @property
    def is_tombstone(self) -> bool:
        """True once the record was purged: no SD-JWT, no subject."""
        return self.sd_jwt is None
