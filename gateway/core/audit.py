"""Audit events: who did what, to which subject and records, why, and the decision.

An event is serialised once to canonical JSON bytes; those exact bytes are what
the audit log stores and hashes into its Merkle tree (RFC 9162 leaves). Events
never hold personal data in clear: subjects appear as they are indexed (legal
persons' codes are public; natural persons' numbers are masked).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum

from gateway.core.errors import MalformedError

__all__ = ["AuditEvent", "Decision"]


class Decision(StrEnum):
    ALLOWED = "allowed"
    DENIED = "denied"


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One audited action.

    Attributes:
        time: unix seconds.
        node: the node that recorded the event.
        actor: ``role:node/name`` of the caller (see Principal.actor).
        fingerprint: hex SHA-256 of the caller's certificate.
        address: transport address of the caller.
        action: e.g. ``records.list``, ``intake.submit``, ``push.receive``.
        decision: allowed or denied.
        rule: the policy rule that decided (``default-deny``, ``access-table:...``).
        subject: the subject concerned, masked when personal.
        records: ``record_id@version`` of the records concerned.
        purpose: the stated purpose, where the call has one.
        case_id: the case id, where the call has one.
        detail: a short non-personal note (counts, error class).
    """

    time: int
    node: str
    actor: str
    action: str
    decision: Decision
    fingerprint: str = ""
    address: str = ""
    rule: str = ""
    subject: str = ""
    records: tuple[str, ...] = field(default_factory=tuple)
    purpose: str = ""
    case_id: str = ""
    detail: str = ""

    def to_bytes(self) -> bytes:
        """Canonical JSON (sorted keys, compact, UTF-8): the bytes the log hashes."""
        # Built field by field: dataclasses.asdict deep-copies and dominated append time.
        doc = {
            "action": self.action,
            "actor": self.actor,
            "address": self.address,
            "case_id": self.case_id,
            "decision": self.decision.value,
            "detail": self.detail,
            "fingerprint": self.fingerprint,
            "node": self.node,
            "purpose": self.purpose,
            "records": list(self.records),
            "rule": self.rule,
            "subject": self.subject,
            "time": self.time,
        }
        return json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> AuditEvent:
        """Parse canonical event bytes.

        Raises:
            MalformedError: if the bytes are not an event or not in canonical form.
        """
        try:
            doc = json.loads(data)
            event = cls(
                **{
                    **doc,
                    "decision": Decision(doc["decision"]),
                    "records": tuple(doc.get("records", ())),
                }
            )
        except (ValueError, TypeError, KeyError) as exc:
            raise MalformedError(f"not an audit event: {exc}") from exc
        if event.to_bytes() != data:
            raise MalformedError("audit event bytes are not in canonical form")
        return event
