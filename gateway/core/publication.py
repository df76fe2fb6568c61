"""The public feed of 双公示 and list entries: what it carries and how it is checked.

A node's publication feed is a log of entries, numbered by the node's record
change log (``seq``), that a 信用中国 website pulls page by page:

- a **publish** entry carries the issuer's SD-JWT redacted for the ``public``
  recipient of the catalog: personal data masked or withheld, the issuer's
  signature untouched, so anyone holding the federation's directory can check
  that the issuing node signed it;
- a **withdraw** entry says a published record must come down, with the
  signed reason: the issuer's status statement (correction, suspension on an
  objection, revocation, repair), or, for expiry, which has no statement, a
  withdrawal signed by the serving node (:data:`WITHDRAWAL_TYPE`).

The trust anchor is the federation's root certificate: the feed serves the
signed directory, which carries every node's signing certificates and key
history.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from gateway.core.dsse import canonical_json
from gateway.core.errors import MalformedError
from gateway.core.payload_fields import parse_json_payload

__all__ = [
    "WITHDRAWAL_TYPE",
    "EntryKind",
    "ExpiryWithdrawal",
    "FeedEntry",
    "FeedPage",
]

WITHDRAWAL_TYPE = "application/vnd.credit-gateway.withdrawal+json"
"""The DSSE payload type of a withdrawal signed by the serving node (expiry)."""


class EntryKind(StrEnum):
    PUBLISH = "publish"
    WITHDRAW = "withdraw"


@dataclass(frozen=True, slots=True)
class FeedEntry:
    """One entry of the feed.

    Attributes:
        sd_jwt: publish entries: the issuer's SD-JWT, redacted for the public.
        reason: withdraw entries: the record's new status (``revoked``, ``expired``...).
        signed: withdraw entries: the DSSE envelope (JSON) that proves the reason.
        signed_by: who signed ``signed``: the issuer, or the serving node for expiry.
    """

    seq: int
    kind: EntryKind
    issuer: str
    record_id: str
    version: int
    category: str
    sd_jwt: str | None = None
    reason: str | None = None
    signed: bytes | None = None
    signed_by: str | None = None

    def to_json(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "seq": self.seq,
            "kind": self.kind.value,
            "issuer": self.issuer,
            "record_id": self.record_id,
            "version": self.version,
            "category": self.category,
        }
        if self.kind is EntryKind.PUBLISH:
            entry["sd_jwt"] = self.sd_jwt
        else:
            entry["reason"] = self.reason
            entry["signed_by"] = self.signed_by
            entry["envelope"] = None if self.signed is None else self.signed.decode()
        return entry


@dataclass(frozen=True, slots=True)
class FeedPage:
    """A page of the feed: the entries after a position, and where to go on from.

    ``next`` is the position to ask for next (the last change read, shown or
    not); ``end`` says no settled change was left to read.
    """

    entries: tuple[FeedEntry, ...]
    next: int
    end: bool

    def to_json(self) -> bytes:
        return canonical_json(
            {"entries": [e.to_json() for e in self.entries], "next": self.next, "end": self.end}
        )


@dataclass(frozen=True, slots=True)
class ExpiryWithdrawal:
    """What a node signs when a published record's period ends (expiry has no statement)."""

    node: str
    issuer: str
    record_id: str
    version: int
    expired_at: int

    def to_payload(self) -> bytes:
        return canonical_json(
            {
                "type": "withdrawal",
                "reason": "expired",
                "node": self.node,
                "issuer": self.issuer,
                "record_id": self.record_id,
                "version": self.version,
                "expired_at": self.expired_at,
            }
        )

    @classmethod
    def from_payload(cls, payload: bytes) -> ExpiryWithdrawal:
        """Read a withdrawal strictly.

        Raises:
            MalformedError: not an expiry withdrawal, naming what is wrong.
        """
        keys = frozenset({"type", "reason", "node", "issuer", "record_id", "version", "expired_at"})
        doc = parse_json_payload(payload, what="withdrawal", keys=keys)
        if doc["type"] != "withdrawal" or doc["reason"] != "expired":
            raise MalformedError("the payload is not an expiry withdrawal")
        node, issuer, record_id = doc["node"], doc["issuer"], doc["record_id"]
        version, expired_at = doc["version"], doc["expired_at"]
        if not (isinstance(node, str) and isinstance(issuer, str) and isinstance(record_id, str)):
            raise MalformedError("withdrawal node, issuer and record_id must be strings")
        if not (isinstance(version, int) and isinstance(expired_at, int)):
            raise MalformedError("withdrawal version and expired_at must be integers")
        return cls(node, issuer, record_id, version, expired_at)
