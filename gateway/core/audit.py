"""Audit events: who did what, to which subject and records, why, and the decision.

An event is serialised once to canonical JSON bytes; those exact bytes are what
the audit log stores and hashes into its Merkle tree (RFC 9162 leaves). Events
never hold personal data in clear: subjects appear as they are indexed (legal
persons' codes are public; natural persons' numbers are masked).

Events are built by :func:`event_by` (a caller's action) and :func:`event_by_node`
(an action the node takes on its own, or a peer node's push), so that every event
spells its actor the same way and bounds its free text by the same rule.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from gateway.core.errors import MalformedError
from gateway.core.principal import Principal, Role

__all__ = [
    "MAX_DETAIL_CHARS",
    "MAX_RULE_CHARS",
    "UNAUTHENTICATED",
    "AuditEvent",
    "Decision",
    "error_detail",
    "error_rule",
    "event_by",
    "event_by_node",
    "event_by_operator",
    "is_audited",
    "mark_audited",
    "node_actor",
    "operator_actor",
    "record_ref",
    "record_refs",
]

MAX_DETAIL_CHARS = 500
"""Longest ``detail`` kept; error texts quote remote data and must not grow the log."""

MAX_RULE_CHARS = 200
"""Longest ``rule`` kept; a rule may quote a peer's refusal."""

UNAUTHENTICATED = "unauthenticated"
"""The actor of a call refused before its caller was known."""

_AUDITED_NOTE = "refusal already written to the audit log"

# What json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":")) uses,
# made once: dumps builds a new encoder for every call with arguments.
_CANONICAL = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"))


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
        return _CANONICAL.encode(doc).encode()

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


def node_actor(node_id: str) -> str:
    """The actor label of a node: ``node:X/X``, as :attr:`Principal.actor` spells a node peer.

    A node's own actions (expiry, push) and a peer's push are then found by the
    same actor filter as the peer's calls authenticated by its certificate.
    """
    return f"{Role.NODE.value}:{node_id}/{node_id}"


def operator_actor(node_id: str, user: str) -> str:
    """The actor label of an operator at the node's host: ``operator:X/user``.

    Operators act with the node's configuration and store (the operator's
    commands), not with a certificate, so their events carry no fingerprint.
    """
    return f"operator:{node_id}/{user}"


def record_ref(record_id: str, version: int) -> str:
    """``record_id@version``, as events name records."""
    return f"{record_id}@{version}"


def record_refs(keys: Iterable[tuple[str, int]]) -> tuple[str, ...]:
    """:func:`record_ref` of each ``(record_id, version)``, in order."""
    return tuple(f"{record_id}@{version}" for record_id, version in keys)


def error_detail(exc: BaseException) -> str:
    """The detail of a refusal: the error's class and message."""
    return f"{type(exc).__name__}: {exc}"


def error_rule(exc: BaseException) -> str:
    """The rule of a refusal: the error's policy rule, else its class name."""
    rule = getattr(exc, "rule", None)
    return rule if isinstance(rule, str) else type(exc).__name__


def _event(
    *,
    actor: str,
    fingerprint: str = "",
    address: str = "",
    rule: str = "",
    detail: str = "",
    **fields: Any,
) -> AuditEvent:
    """The one place an event is made: the actor's identity and the truncation rule."""
    return AuditEvent(
        actor=actor,
        fingerprint=fingerprint,
        address=address,
        rule=rule[:MAX_RULE_CHARS],
        detail=detail[:MAX_DETAIL_CHARS],
        **fields,
    )


def event_by(
    principal: Principal | None,
    *,
    node: str,
    time: int,
    action: str,
    decision: Decision,
    rule: str = "",
    subject: str = "",
    records: tuple[str, ...] = (),
    purpose: str = "",
    case_id: str = "",
    detail: str = "",
) -> AuditEvent:
    """An event for an action of an authenticated caller; None when the caller is unknown."""
    return _event(
        actor=principal.actor if principal is not None else UNAUTHENTICATED,
        fingerprint=principal.fingerprint if principal is not None else "",
        address=principal.address if principal is not None else "",
        rule=rule,
        detail=detail,
        time=time,
        node=node,
        action=action,
        decision=decision,
        subject=subject,
        records=records,
        purpose=purpose,
        case_id=case_id,
    )


def event_by_operator(
    node: str,
    *,
    user: str,
    host: str,
    time: int,
    action: str,
    decision: Decision,
    rule: str = "",
    records: tuple[str, ...] = (),
    detail: str = "",
) -> AuditEvent:
    """An event for an operator's command run at the node's host (``host`` as its address)."""
    return _event(
        actor=operator_actor(node, user),
        address=host,
        rule=rule,
        detail=detail,
        time=time,
        node=node,
        action=action,
        decision=decision,
        records=records,
    )


def event_by_node(
    node: str,
    *,
    time: int,
    action: str,
    decision: Decision,
    actor_node: str | None = None,
    rule: str = "",
    subject: str = "",
    records: tuple[str, ...] = (),
    purpose: str = "",
    case_id: str = "",
    detail: str = "",
) -> AuditEvent:
    """An event for an action by a node: ``node`` itself, or the peer ``actor_node``."""
    return _event(
        actor=node_actor(actor_node or node),
        rule=rule,
        detail=detail,
        time=time,
        node=node,
        action=action,
        decision=decision,
        subject=subject,
        records=records,
        purpose=purpose,
        case_id=case_id,
    )


def mark_audited(exc: BaseException) -> None:
    """Note on ``exc`` that its refusal is in the audit log, so the RPC edge adds no second event.

    A use case that audits a refusal itself (with a richer action or detail than the
    edge knows) marks the error before raising it on.
    """
    if not is_audited(exc):
        exc.add_note(_AUDITED_NOTE)


def is_audited(exc: BaseException) -> bool:
    """True if :func:`mark_audited` was called on ``exc``."""
    return _AUDITED_NOTE in getattr(exc, "__notes__", ())
