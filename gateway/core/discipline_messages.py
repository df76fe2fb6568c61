"""Bodies of the routed messages of the discipline loop, validated both ways.

Three kinds travel to a record's issuer (see :mod:`gateway.core.messages`),
and one back from it:

``hit``
    a check somewhere intercepted on the issuer's notice (发起);
``feedback``
    what the checking department then did about it (反馈);
``objection``
    a subject's objection to the record (异议), filed at any node;
``objection.decision``
    the issuer's decision on it, sent to the node where it was filed.

The origin node and the time come from the signed message itself; a body
holds the rest. Constructors validate every field, and :meth:`from_body`
refuses unknown or missing keys, so that a body read at the issuer is exactly
one that a node could have built.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from gateway.core.errors import MalformedError
from gateway.core.limits import DEFAULT_LIMITS
from gateway.core.payload_fields import (
    check_exact_keys,
    check_int,
    check_record_id,
    check_text,
    is_hex_id,
)
from gateway.core.remedies import FeedbackAction, ObjectionDecision

__all__ = [
    "FEEDBACK_KIND",
    "HIT_KIND",
    "OBJECTION_DECISION_KIND",
    "OBJECTION_KIND",
    "FeedbackReport",
    "HitReport",
    "ObjectionFiling",
    "ObjectionOutcome",
]

HIT_KIND = "discipline.hit"
FEEDBACK_KIND = "discipline.feedback"
OBJECTION_KIND = "discipline.objection"
OBJECTION_DECISION_KIND = "discipline.objection.decision"

_DOMAIN = re.compile(r"[a-z][a-z0-9_]{0,63}")
_MEASURE = re.compile(r"M-[A-Z]+-\d{2}")
# Bounds from the one limits object (its defaults: a message is read before any node's config).
_MAX_RECORD_ID = DEFAULT_LIMITS.max_record_id_chars
_MAX_ACTOR = DEFAULT_LIMITS.max_actor_chars
_MAX_SHORT = DEFAULT_LIMITS.max_string_chars
_MAX_TEXT = DEFAULT_LIMITS.max_text_chars


def _id(what: str, name: str, value: object) -> None:
    if not is_hex_id(value):
        raise MalformedError(f"{what} key {name!r} is not 32 lowercase hex characters")


def _record(what: str, record_id: object, version: object) -> None:
    check_record_id(record_id, what=what, max_chars=_MAX_RECORD_ID)
    check_int(version, what=what, key="version", minimum=1)


def _domain(what: str, value: object) -> None:
    if not isinstance(value, str) or not _DOMAIN.fullmatch(value):
        raise MalformedError(f"{what} key 'domain' is not a domain name")


@dataclass(frozen=True, slots=True, kw_only=True)
class HitReport:
    """A check that intercepted on one notice, reported to the notice's issuer.

    Raises:
        MalformedError: naming the key at fault.
    """

    check_id: str
    record_id: str
    version: int
    checked_at: int
    department: str
    domain: str
    purpose: str
    case_id: str
    decision: str
    measures: tuple[str, ...]

    def __post_init__(self) -> None:
        what = "hit report"
        _id(what, "check_id", self.check_id)
        _record(what, self.record_id, self.version)
        check_int(self.checked_at, what=what, key="checked_at", minimum=0)
        check_text(self.department, what=what, key="department", max_chars=_MAX_ACTOR)
        _domain(what, self.domain)
        check_text(self.purpose, what=what, key="purpose", max_chars=_MAX_SHORT)
        check_text(self.case_id, what=what, key="case_id", max_chars=_MAX_SHORT, blank_ok=True)
        check_text(self.decision, what=what, key="decision", max_chars=32)
        if not isinstance(self.measures, tuple) or not all(
            isinstance(m, str) and _MEASURE.fullmatch(m) for m in self.measures
        ):
            raise MalformedError(f"{what} key 'measures' must list measure codes")

    def to_body(self) -> dict[str, Any]:
        return {**asdict(self), "measures": list(self.measures)}

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> HitReport:
        """Raises MalformedError naming the key at fault."""
        check_exact_keys(body, _HIT_KEYS, what="hit report")
        measures = body["measures"]
        if not isinstance(measures, list):
            raise MalformedError("hit report key 'measures' must be a list")
        return cls(**{**body, "measures": tuple(measures)})


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedbackReport:
    """What a department did about a hit, reported to the notice's issuer.

    Raises:
        MalformedError: naming the key at fault.
    """

    feedback_id: str
    check_id: str
    record_id: str
    version: int
    action: str
    note: str
    department: str
    domain: str
    case_id: str
    checked_at: int

    def __post_init__(self) -> None:
        what = "feedback report"
        _id(what, "feedback_id", self.feedback_id)
        _id(what, "check_id", self.check_id)
        _record(what, self.record_id, self.version)
        if self.action not in {a.value for a in FeedbackAction}:
            raise MalformedError(
                f"{what} key 'action' is {str(self.action)[:40]!r}, not one of "
                + ", ".join(a.value for a in FeedbackAction)
            )
        check_text(self.note, what=what, key="note", max_chars=_MAX_TEXT, blank_ok=True)
        check_text(self.department, what=what, key="department", max_chars=_MAX_ACTOR)
        _domain(what, self.domain)
        check_text(self.case_id, what=what, key="case_id", max_chars=_MAX_SHORT, blank_ok=True)
        check_int(self.checked_at, what=what, key="checked_at", minimum=0)

    def to_body(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> FeedbackReport:
        """Raises MalformedError naming the key at fault."""
        check_exact_keys(body, _FEEDBACK_KEYS, what="feedback report")
        return cls(**body)


@dataclass(frozen=True, slots=True, kw_only=True)
class ObjectionFiling:
    """An objection to one record version, on its way to the record's issuer.

    Raises:
        MalformedError: naming the key at fault.
    """

    objection_id: str
    record_id: str
    version: int
    grounds: str
    filed_by: str

    def __post_init__(self) -> None:
        what = "objection"
        _id(what, "objection_id", self.objection_id)
        _record(what, self.record_id, self.version)
        check_text(self.grounds, what=what, key="grounds", max_chars=_MAX_TEXT)
        check_text(self.filed_by, what=what, key="filed_by", max_chars=_MAX_ACTOR)

    def to_body(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> ObjectionFiling:
        """Raises MalformedError naming the key at fault."""
        check_exact_keys(body, _OBJECTION_KEYS, what="objection")
        return cls(**body)


@dataclass(frozen=True, slots=True, kw_only=True)
class ObjectionOutcome:
    """The issuer's decision on an objection, on its way back to the node where it was filed.

    Attributes:
        decision: accept, reject, uphold or dismiss.
        decided_at: when the issuer decided, unix seconds.
        decided_by: the issuer's admin who decided.
        resolution: the reason given.
        statement_id: the status statement the decision issued, ``""`` if none.

    Raises:
        MalformedError: naming the key at fault.
    """

    objection_id: str
    record_id: str
    version: int
    decision: str
    decided_at: int
    decided_by: str
    resolution: str
    statement_id: str

    def __post_init__(self) -> None:
        what = "objection decision"
        _id(what, "objection_id", self.objection_id)
        _record(what, self.record_id, self.version)
        if self.decision not in {d.value for d in ObjectionDecision}:
            raise MalformedError(
                f"{what} key 'decision' is {str(self.decision)[:40]!r}, not one of "
                + ", ".join(d.value for d in ObjectionDecision)
            )
        check_int(self.decided_at, what=what, key="decided_at", minimum=0)
        check_text(self.decided_by, what=what, key="decided_by", max_chars=_MAX_ACTOR)
        check_text(self.resolution, what=what, key="resolution", max_chars=_MAX_TEXT)
        if self.statement_id:
            _id(what, "statement_id", self.statement_id)

    def to_body(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> ObjectionOutcome:
        """Raises MalformedError naming the key at fault."""
        check_exact_keys(body, _OUTCOME_KEYS, what="objection decision")
        return cls(**body)


_HIT_KEYS = frozenset(HitReport.__dataclass_fields__)
_FEEDBACK_KEYS = frozenset(FeedbackReport.__dataclass_fields__)
_OBJECTION_KEYS = frozenset(ObjectionFiling.__dataclass_fields__)
_OUTCOME_KEYS = frozenset(ObjectionOutcome.__dataclass_fields__)
