"""The credit report (信用报告) of one subject, signed by the node that made it.

A report is what one client of a node may see of one subject at one time: the
lists in force with their measures and periods, the records in force, the
objections and repair applications on them, and who asked, why and when. The
node signs the report's JSON (a DSSE envelope of type
:data:`CREDIT_REPORT_TYPE`, with the node's record-signing key) and hands it
out with its certificate chain, so that anyone holding the federation's root
certificate can check it offline. The PDF is a rendering of the signed JSON;
it prints the payload's SHA-256 so that a reader can match the two.

The report file (``*.json``)::

    {"format": "credit-report-file/1",
     "envelope": <DSSE envelope, JSON>,
     "certificate_chain": "<PEM: the signing certificate, then its CAs>"}
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.core.dsse import Envelope, canonical_json
from gateway.core.errors import MalformedError
from gateway.core.limits import DEFAULT_LIMITS, Limits
from gateway.core.payload_fields import parse_json_payload

__all__ = [
    "CREDIT_REPORT_TYPE",
    "FILE_FORMAT",
    "CreditReport",
    "ReportEntry",
    "ReportFile",
    "ReportMeasure",
    "ReportProcedure",
    "payload_digest",
]

CREDIT_REPORT_TYPE = "application/vnd.credit-gateway.credit-report+json"
"""The DSSE payload type of a signed credit report."""

FILE_FORMAT = "credit-report-file/1"
"""The ``format`` of a report file."""

_REPORT_VERSION = 1
# A report file is a few records' worth of JSON; a multi-megabyte one is not ours.
_MAX_FILE_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class ReportMeasure:
    """A measure a list entry carries: what it does, where, and on what basis."""

    code: str
    label: str
    effect: str
    domains: tuple[str, ...]
    basis: str


@dataclass(frozen=True, slots=True)
class ReportEntry:
    """A list entry or a record in force, as the requesting client may see it."""

    record_id: str
    version: int
    issuer: str
    category: str
    label: str
    status: str
    issued_at: int
    expires_at: int
    fields: Mapping[str, str]
    """The disclosed values, clear or masked as the client may see them."""
    measures: tuple[ReportMeasure, ...] = ()


@dataclass(frozen=True, slots=True)
class ReportProcedure:
    """An objection (异议) or a repair application (信用修复) on one of the entries."""

    kind: str
    """``objection`` or ``repair``."""
    procedure_id: str
    record_id: str
    state: str
    started_at: int
    decided_at: int | None


@dataclass(frozen=True, slots=True)
class CreditReport:
    """The content of one credit report."""

    report_id: str
    node: str
    generated_at: int
    requested_by: str
    """The client's audit label (``department:330500/tax-office``)."""
    domain: str
    purpose: str
    subject_type: str
    subject: str
    names: tuple[str, ...]
    lists: tuple[ReportEntry, ...]
    records: tuple[ReportEntry, ...]
    procedures: tuple[ReportProcedure, ...] = field(default=())
    truncated: bool = False
    """More entries were held than a report carries (the client should query the rest)."""

    def to_json(self) -> bytes:
        """The payload the node signs: canonical JSON."""
        return canonical_json(
            {
                "type": "credit-report",
                "version": _REPORT_VERSION,
                "report_id": self.report_id,
                "node": self.node,
                "generated_at": self.generated_at,
                "requested_by": self.requested_by,
                "domain": self.domain,
                "purpose": self.purpose,
                "subject": {"type": self.subject_type, "id": self.subject, "names": self.names},
                "lists": [_entry_json(e) for e in self.lists],
                "records": [_entry_json(e) for e in self.records],
                "procedures": [_procedure_json(p) for p in self.procedures],
                "truncated": self.truncated,
            }
        )

    @classmethod
    def from_json(cls, payload: bytes) -> CreditReport:
        """Read a report payload strictly.

        Raises:
            MalformedError: not a credit report of a known version, naming what is wrong.
        """
        doc = parse_json_payload(payload, what="credit report")
        try:
            if doc.get("type") != "credit-report" or doc.get("version") != _REPORT_VERSION:
                raise MalformedError("the payload is not a credit report of version 1")
            subject: Any = doc["subject"]
            return cls(
                report_id=_text(doc, "report_id"),
                node=_text(doc, "node"),
                generated_at=_integer(doc, "generated_at"),
                requested_by=_text(doc, "requested_by"),
                domain=_text(doc, "domain"),
                purpose=_text(doc, "purpose"),
                subject_type=_text(subject, "type"),
                subject=_text(subject, "id"),
                names=tuple(str(n) for n in subject["names"]),
                lists=tuple(_entry(e) for e in _list(doc, "lists")),
                records=tuple(_entry(e) for e in _list(doc, "records")),
                procedures=tuple(_procedure(p) for p in _list(doc, "procedures")),
                truncated=bool(doc["truncated"]),
            )
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            if isinstance(exc, MalformedError):
                raise
            raise MalformedError(f"credit report payload is malformed: {exc!r}") from None


def payload_digest(payload: bytes) -> str:
    """The SHA-256 of a signed payload, hex: printed on the PDF to match its JSON."""
    return hashlib.sha256(payload).hexdigest()


@dataclass(frozen=True, slots=True)
class ReportFile:
    """A signed report as handed out: the envelope and the signer's certificate chain."""

    envelope: Envelope
    certificate_chain: str

    def to_json(self) -> bytes:
        return (
            json.dumps(
                {
                    "format": FILE_FORMAT,
                    "envelope": json.loads(self.envelope.to_json()),
                    "certificate_chain": self.certificate_chain,
                },
                ensure_ascii=False,
                indent=1,
            ).encode()
            + b"\n"
        )

    @classmethod
    def from_json(cls, data: bytes, *, limits: Limits = DEFAULT_LIMITS) -> ReportFile:
        """Read a report file strictly (the signature is not checked here).

        Raises:
            MalformedError: not a report file, naming what is wrong.
        """
        if len(data) > _MAX_FILE_BYTES:
            raise MalformedError(f"a report file of {len(data)} bytes is over {_MAX_FILE_BYTES}")
        doc = parse_json_payload(
            data, what="report file", keys=frozenset({"format", "envelope", "certificate_chain"})
        )
        if doc["format"] != FILE_FORMAT:
            raise MalformedError(f"the file is not a {FILE_FORMAT} report file")
        envelope = doc.get("envelope")
        chain = doc.get("certificate_chain")
        if not isinstance(envelope, dict) or not isinstance(chain, str):
            raise MalformedError("a report file needs an envelope and a certificate chain")
        return cls(Envelope.from_json(json.dumps(envelope).encode(), limits=limits), chain)


def _entry_json(entry: ReportEntry) -> dict[str, Any]:
    return {
        "record_id": entry.record_id,
        "version": entry.version,
        "issuer": entry.issuer,
        "category": entry.category,
        "label": entry.label,
        "status": entry.status,
        "issued_at": entry.issued_at,
        "expires_at": entry.expires_at,
        "fields": dict(entry.fields),
        "measures": [
            {
                "code": m.code,
                "label": m.label,
                "effect": m.effect,
                "domains": list(m.domains),
                "basis": m.basis,
            }
            for m in entry.measures
        ],
    }


def _procedure_json(procedure: ReportProcedure) -> dict[str, Any]:
    return {
        "kind": procedure.kind,
        "id": procedure.procedure_id,
        "record_id": procedure.record_id,
        "state": procedure.state,
        "started_at": procedure.started_at,
        "decided_at": procedure.decided_at,
    }


def _list(doc: Mapping[str, Any], key: str) -> list[Any]:
    value = doc[key]
    if not isinstance(value, list):
        raise MalformedError(f"{key} is not a list")
    return value


def _text(doc: Mapping[str, Any], key: str) -> str:
    value = doc[key]
    if not isinstance(value, str):
        raise MalformedError(f"{key} is not a string")
    return value


def _integer(doc: Mapping[str, Any], key: str) -> int:
    value = doc[key]
    if not isinstance(value, int) or isinstance(value, bool):
        raise MalformedError(f"{key} is not an integer")
    return value


def _entry(doc: Mapping[str, Any]) -> ReportEntry:
    fields = doc["fields"]
    if not isinstance(fields, dict):
        raise MalformedError("an entry's fields are not an object")
    return ReportEntry(
        record_id=_text(doc, "record_id"),
        version=_integer(doc, "version"),
        issuer=_text(doc, "issuer"),
        category=_text(doc, "category"),
        label=_text(doc, "label"),
        status=_text(doc, "status"),
        issued_at=_integer(doc, "issued_at"),
        expires_at=_integer(doc, "expires_at"),
        fields={str(k): str(v) for k, v in fields.items()},
        measures=tuple(
            ReportMeasure(
                code=_text(m, "code"),
                label=_text(m, "label"),
                effect=_text(m, "effect"),
                domains=tuple(str(d) for d in m["domains"]),
                basis=_text(m, "basis"),
            )
            for m in doc["measures"]
        ),
    )


def _procedure(doc: Mapping[str, Any]) -> ReportProcedure:
    decided = doc["decided_at"]
    return ReportProcedure(
        kind=_text(doc, "kind"),
        procedure_id=_text(doc, "id"),
        record_id=_text(doc, "record_id"),
        state=_text(doc, "state"),
        started_at=_integer(doc, "started_at"),
        decided_at=None if decided is None else _integer(doc, "decided_at"),
    )
