"""Status statements: a record's issuer changes its status everywhere it went.

Corrections, disputes and suspensions (an objection is pending; measures stay in
force or pause), reinstatements, revocations and credit repair are statements by
the issuing node about one (record id, version), signed in a DSSE envelope and
carried on the same paths as the records. The payload is canonical JSON; a
statement has exactly one byte form, so two nodes holding the same statement hold
the same bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from gateway.core.algorithms import Signer, Verifier
from gateway.core.dsse import (
    Envelope,
    canonical_json,
    sign_envelope,
    verify_envelope,
)
from gateway.core.errors import MalformedError
from gateway.core.limits import DEFAULT_LIMITS, Limits
from gateway.core.payload_fields import (
    check_int,
    check_node_id,
    check_record_id,
    check_text,
    is_uuid4_hex,
    parse_json_payload,
    payload_int,
    payload_str,
)
from gateway.core.record_status import RecordStatus

__all__ = [
    "STATEMENT_PAYLOAD_TYPE",
    "STATUS_EFFECT",
    "StatusKind",
    "StatusStatement",
    "check_statement_bounds",
    "purges_disclosures",
    "sign_statement",
    "verify_statement",
]

STATEMENT_PAYLOAD_TYPE = "application/vnd.credit-gateway.status+json"


class StatusKind(StrEnum):
    """What a statement does to the record it names."""

    CORRECTION = "correction"
    DISPUTE = "dispute"
    SUSPENSION = "suspension"
    REINSTATEMENT = "reinstatement"
    REVOCATION = "revocation"
    REPAIR = "repair"


STATUS_EFFECT: Mapping[StatusKind, RecordStatus] = MappingProxyType(
    {
        StatusKind.CORRECTION: RecordStatus.CORRECTED,
        StatusKind.DISPUTE: RecordStatus.DISPUTED,
        StatusKind.SUSPENSION: RecordStatus.SUSPENDED,
        StatusKind.REINSTATEMENT: RecordStatus.ACTIVE,
        StatusKind.REVOCATION: RecordStatus.REVOKED,
        StatusKind.REPAIR: RecordStatus.REPAIRED,
    }
)
"""The record's status once the statement is applied."""

_PURGING = frozenset({StatusKind.REVOCATION, StatusKind.REPAIR})

_WHAT = "status statement"
_KEYS = frozenset(
    {"statement_id", "kind", "issuer", "record_id", "version", "issued_at", "reason", "new_version"}
)
# The shape a statement may have at all; the receiver then applies the node's limits
# (check_statement_bounds: max_record_id_chars and the rest).
_MAX_RECORD_ID_CHARS = 256
_MAX_REASON_CHARS = DEFAULT_LIMITS.max_text_chars


def purges_disclosures(kind: StatusKind) -> bool:
    """True if applying ``kind`` must purge the record's disclosures everywhere it went."""
    return kind in _PURGING


@dataclass(frozen=True, slots=True)
class StatusStatement:
    """One status statement; the constructor validates every field.

    Attributes:
        statement_id: 32 lowercase hex characters of a random (version 4) UUID.
        kind: what the statement does.
        issuer: 6-digit node id (GB/T 2260 region code) of the record's issuer.
        record_id: the record the statement is about.
        version: the record version it is about, from 1.
        issued_at: Unix time in seconds.
        reason: why, for the subject and the auditors; not blank.
        new_version: for a correction, the version that replaces ``version``; else None.

    Raises:
        MalformedError: naming the field that is out of its domain.
    """

    statement_id: str
    kind: StatusKind
    issuer: str
    record_id: str
    version: int
    issued_at: int
    reason: str
    new_version: int | None

    def __post_init__(self) -> None:
        if not is_uuid4_hex(self.statement_id):
            raise MalformedError(
                f"{_WHAT} key 'statement_id' is {self.statement_id[:40]!r}, not a uuid4 in hex"
            )
        if not isinstance(self.kind, StatusKind):
            raise MalformedError(f"{_WHAT} key 'kind' is {self.kind!r}, not a StatusKind")
        check_node_id(self.issuer, what=_WHAT, key="issuer")
        check_record_id(self.record_id, what=_WHAT, max_chars=_MAX_RECORD_ID_CHARS)
        check_int(self.version, what=_WHAT, key="version", minimum=1)
        check_int(self.issued_at, what=_WHAT, key="issued_at", minimum=0)
        check_text(self.reason, what=_WHAT, key="reason", max_chars=_MAX_REASON_CHARS)
        if self.kind is StatusKind.CORRECTION:
            if self.new_version is None:
                raise MalformedError(f"{_WHAT} key 'new_version' is required for a correction")
            check_int(self.new_version, what=_WHAT, key="new_version", minimum=self.version + 1)
        elif self.new_version is not None:
            raise MalformedError(f"{_WHAT} key 'new_version' must be null for a {self.kind}")

    def to_payload(self) -> bytes:
        """Canonical JSON of every field (``new_version`` as null when unset)."""
        return canonical_json(
            {
                "statement_id": self.statement_id,
                "kind": self.kind.value,
                "issuer": self.issuer,
                "record_id": self.record_id,
                "version": self.version,
                "issued_at": self.issued_at,
                "reason": self.reason,
                "new_version": self.new_version,
            }
        )

    @classmethod
    def from_payload(cls, data: bytes) -> StatusStatement:
        """Parse a statement payload strictly.

        Every key is required (``new_version`` may be null), no other key is allowed,
        and ``data`` must be the canonical form: the bytes a signer produces.

        Raises:
            MalformedError: naming the key that is missing, unknown, mistyped or out of
                its domain, or saying the payload is not canonical.
        """
        obj = parse_json_payload(data, what=_WHAT, keys=_KEYS)
        kind_text = payload_str(obj, "kind", _WHAT)
        try:
            kind = StatusKind(kind_text)
        except ValueError as exc:
            raise MalformedError(
                f"{_WHAT} key 'kind' is {kind_text[:40]!r}, not one of "
                + ", ".join(k.value for k in StatusKind)
            ) from exc
        new_version = (
            None
            if obj["new_version"] is None
            else payload_int(obj, "new_version", _WHAT, minimum=1)
        )
        statement = cls(
            statement_id=payload_str(obj, "statement_id", _WHAT),
            kind=kind,
            issuer=payload_str(obj, "issuer", _WHAT),
            record_id=payload_str(obj, "record_id", _WHAT),
            version=payload_int(obj, "version", _WHAT, minimum=1),
            issued_at=payload_int(obj, "issued_at", _WHAT, minimum=0),
            reason=payload_str(obj, "reason", _WHAT),
            new_version=new_version,
        )
        if statement.to_payload() != data:
            raise MalformedError(f"{_WHAT} is not canonical JSON (sorted keys, compact, UTF-8)")
        return statement


def check_statement_bounds(statement: StatusStatement, limits: Limits) -> None:
    """Refuse a statement whose numbers or record id exceed what this node stores.

    Raises:
        OutOfRangeError: naming the field, with a ``limits:`` rule.
    """
    versions = [("version", statement.version)]
    if statement.new_version is not None:
        versions.append(("new_version", statement.new_version))
    for key, version in versions:
        limits.check_range(
            f"{_WHAT} key {key!r}",
            version,
            1,
            limits.max_record_version,
            rule="limits:record-version",
        )
    limits.check_range(
        f"{_WHAT} key 'issued_at'",
        statement.issued_at,
        0,
        limits.max_unix_time_s,
        rule="limits:time",
    )
    limits.check_range(
        f"{_WHAT} key 'record_id' length",
        len(statement.record_id),
        1,
        limits.max_record_id_chars,
        rule="limits:text",
    )


def sign_statement(stmt: StatusStatement, signer: Signer) -> Envelope:
    """Sign ``stmt``'s canonical payload with the issuer's key."""
    return sign_envelope(STATEMENT_PAYLOAD_TYPE, stmt.to_payload(), signer)


def verify_statement(
    envelope: Envelope,
    *,
    resolve_key: Callable[[str], Verifier],
    issuer_keyid: str | None = None,
) -> StatusStatement:
    """Verify a statement envelope and parse the payload bytes that were verified.

    Only the issuer of a record may change its status: pass ``issuer_keyid`` (the
    signing key of the record's issuer), or a ``resolve_key`` that trusts only that
    issuer's keys. This function cannot map a key to a node by itself.

    Raises:
        MalformedError: wrong payload type, or a malformed statement (naming the key).
        AlgorithmError: a trusted key's algorithm is not allowed.
        SignatureError: as :func:`gateway.core.dsse.verify_envelope`.
    """
    payload = verify_envelope(
        envelope,
        expected_type=STATEMENT_PAYLOAD_TYPE,
        resolve_key=resolve_key,
        required_keyid=issuer_keyid,
    )
    return StatusStatement.from_payload(payload)
