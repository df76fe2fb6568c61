"""Validation of submitted records against the catalog (minimal collection).

A department submits a record as field code -> text. It is accepted only if
every field is one its category lists, every required field is there, every
value has the field's type and length, and the record names exactly one
subject by a valid identifier. Values come back normalised, in catalog order,
with the disclosure period worked out:

* the period runs from the decision date for the months the category gives
  the record's severity; per 民法典 第二百零一条、第二百零二条 the day of the
  decision is not counted, so the period ends on the same day of the last
  month, or that month's last day if it has no such day;
* an explicit publication deadline (``CF_GSJZQ``) can only end it earlier;
* a record whose period is already over is refused: it may not be shared.

Empty values (after stripping surrounding whitespace) count as absent.
"""

from __future__ import annotations

import calendar
import hashlib
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from types import MappingProxyType

from gateway.core.catalog import Catalog, Category, FieldSpec, FieldType, Severity
from gateway.core.errors import AccessDeniedError, IdentifierError, RecordValidationError
from gateway.core.identifiers import SubjectType, validate_citizen_id, validate_uscc
from gateway.core.limits import DEFAULT_LIMITS, Limits
from gateway.core.node_id import is_node_id_shape

__all__ = [
    "CITIZEN_ID_KINDS",
    "ValidatedRecord",
    "add_months",
    "check_record_issuer",
    "record_issuer",
    "record_key",
    "validate_record",
]

CITIZEN_ID_KINDS = frozenset({"身份证", "居民身份证", "001"})
"""Values of an id-type field that mean a GB 11643 citizen number."""

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DECIMAL = re.compile(r"\d{1,18}(\.\d{1,6})?")
_INTEGER = re.compile(r"-?\d{1,18}")
_TEXT_CONTROLS = frozenset("\n\r\t")
_KEY_TAG = b"credit-gateway/record-key/v1"


@dataclass(frozen=True, slots=True, kw_only=True)
class ValidatedRecord:
    """A record that fits its category, with normalised values.

    Attributes:
        fields: field code -> normalised value, present fields only, catalog order.
        expires_on: the last day of the disclosure period (inclusive).
    """

    category: str
    subject_type: SubjectType
    subject_id: str
    document_number: str
    fields: Mapping[str, str]
    decision_date: date
    severity: Severity
    expires_on: date


def add_months(start: date, months: int) -> date:
    """``start`` plus ``months`` calendar months, clamped to the end of the month.

    >>> add_months(date(2025, 1, 31), 1)
    datetime.date(2025, 2, 28)
    """
    index = start.year * 12 + start.month - 1 + months
    year, month = divmod(index, 12)
    last_day = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(start.day, last_day))


def record_key(issuer: str, category: str, document_number: str, subject_id: str) -> str:
    """The deterministic record id of a document, so that re-submitting it adds no duplicate.

    The issuer's node id, ``"-"`` and the first 32 hex digits of SHA-256 over a
    tag and the length-prefixed UTF-8 parts: no two different tuples share an
    encoding, and the id names its issuer, so no other node can claim it (see
    :func:`check_record_issuer`).
    """
    digest = hashlib.sha256()
    parts = (issuer, category, document_number, subject_id)
    for part in (_KEY_TAG, *(text.encode("utf-8") for text in parts)):
        digest.update(len(part).to_bytes(4, "big") + part)
    return f"{issuer}-{digest.hexdigest()[:32]}"


def record_issuer(record_id: str) -> str:
    """The node a record id names as its issuer (``""`` if it names none)."""
    issuer, dash, _rest = record_id.partition("-")
    return issuer if dash and is_node_id_shape(issuer) else ""


def check_record_issuer(record_id: str, issuer: str, *, what: str = "record") -> None:
    """Refuse a record, version or statement by ``issuer`` about an id another node owns.

    Only a record's issuer may publish a version of it or a statement about it;
    the id carries the issuer, so a node cannot take another's id first either.

    Raises:
        AccessDeniedError: rule ``record:issuer-only``.
    """
    owner = record_issuer(record_id)
    if owner != issuer:
        raise AccessDeniedError(
            f"{what} {record_id} is not an id of node {issuer}"
            + (f" but of node {owner}" if owner else "")
            + ": only a record's issuer may publish it, a version of it or its status",
            rule="record:issuer-only",
        )


def _refuse(code: str, message: str) -> RecordValidationError:
    return RecordValidationError(f"field {code}: {message}", field=code)


def _check_characters(spec: FieldSpec, value: str) -> None:
    allowed = _TEXT_CONTROLS if spec.type is FieldType.TEXT else frozenset()
    for position, char in enumerate(value, start=1):
        if unicodedata.category(char) == "Cc" and char not in allowed:
            raise _refuse(spec.code, f"control character U+{ord(char):04X} at position {position}")


def _identifier(spec: FieldSpec, value: str, present: Mapping[str, str], today: date) -> str:
    try:
        if spec.type is FieldType.USCC:
            return validate_uscc(value)
        id_kind = present.get(spec.id_type_field or "")
        # Without its kind, a personal id is taken for a citizen number: the
        # strict reading, and the one almost every record means.
        if id_kind is None or id_kind in CITIZEN_ID_KINDS:
            return validate_citizen_id(value, today=today)
    except IdentifierError as exc:
        raise _refuse(spec.code, str(exc)) from exc
    return value


def _date(spec: FieldSpec, value: str) -> str:
    if not _DATE.fullmatch(value):
        raise _refuse(spec.code, f"{value!r} is not a date in the form YYYY-MM-DD")
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise _refuse(spec.code, f"{value!r} is not a real calendar date") from None


def _decimal(spec: FieldSpec, value: str) -> str:
    if not _DECIMAL.fullmatch(value):
        raise _refuse(spec.code, f"{value!r} is not a non-negative decimal number")
    return format(Decimal(value), "f")


def _integer(spec: FieldSpec, value: str) -> str:
    if not _INTEGER.fullmatch(value):
        raise _refuse(spec.code, f"{value!r} is not an integer")
    return str(int(value))


def _region(spec: FieldSpec, value: str) -> str:
    if not is_node_id_shape(value):
        raise _refuse(spec.code, f"{value!r} is not a 6-digit region code")
    return value


def _enum(spec: FieldSpec, value: str) -> str:
    if value not in spec.allowed:
        raise _refuse(spec.code, f"{value!r} is not one of {', '.join(spec.allowed)}")
    return value


_SCALARS: Mapping[FieldType, Callable[[FieldSpec, str], str]] = {
    FieldType.DATE: _date,
    FieldType.DECIMAL: _decimal,
    FieldType.INTEGER: _integer,
    FieldType.REGION: _region,
    FieldType.ENUM: _enum,
}


def _normalise(spec: FieldSpec, value: str, present: Mapping[str, str], today: date) -> str:
    """The normalised value of one field, or a refusal naming it."""
    if len(value) > spec.max_chars:
        raise _refuse(spec.code, f"{len(value)} characters, over the limit of {spec.max_chars}")
    _check_characters(spec, value)
    if spec.type in (FieldType.USCC, FieldType.ID_NUMBER):
        return _identifier(spec, value, present, today)
    check = _SCALARS.get(spec.type)
    return value if check is None else check(spec, value)


def _subject(category: Category, values: Mapping[str, str]) -> tuple[SubjectType, str]:
    """The subject type and the field carrying its identifier; exactly one must be given."""
    given = [(st, code) for st, code in category.subject_fields.items() if code in values]
    codes = " or ".join(category.subject_fields.values())
    if not given:
        first = next(iter(category.subject_fields.values()))
        raise _refuse(first, f"the record names no subject: one of {codes} is required")
    if len(given) > 1:
        raise _refuse(
            given[1][1],
            f"the record names two subjects ({given[0][1]} and {given[1][1]}); "
            "a record has exactly one",
        )
    subject_type, code = given[0]
    type_field = category.subject_type_field
    if type_field is not None and type_field in values:
        declared = category.subject_type_values[values[type_field]]
        if declared is not subject_type:
            raise _refuse(
                type_field,
                f"{values[type_field]!r} is a {declared} subject, but the record "
                f"identifies a {subject_type} by {code}",
            )
    for spec in category.fields:
        if spec.code in values and spec.subject not in (None, subject_type):
            raise _refuse(
                spec.code,
                f"belongs to the {spec.subject} block, but the subject is a {subject_type}",
            )
    return subject_type, code


def _expiry(category: Category, values: Mapping[str, str], severity: Severity) -> tuple[date, str]:
    """The last day of disclosure, and the field that decided it."""
    decided = date.fromisoformat(values[category.decision_date_field])
    expires = add_months(decided, category.periods_months[severity])
    reason = category.decision_date_field
    deadline_field = category.publication_deadline_field
    if deadline_field is not None and deadline_field in values:
        deadline = date.fromisoformat(values[deadline_field])
        if deadline < decided:
            raise _refuse(
                deadline_field, f"{deadline} is before the decision date {decided.isoformat()}"
            )
        if deadline < expires:
            expires, reason = deadline, deadline_field
    return expires, reason


def validate_record(
    catalog: Catalog,
    category_code: str,
    fields: Mapping[str, str],
    *,
    today: date,
    limits: Limits = DEFAULT_LIMITS,
) -> ValidatedRecord:
    """Check a submitted record against its category and normalise it.

    Args:
        catalog: the node's merged catalog.
        category_code: the category the record claims (``admin_penalty``).
        fields: field code -> value as submitted.
        today: the intake date (the core reads no clock).
        limits: bounds on the number of fields submitted.

    Returns:
        The validated record, with its subject, severity and end of disclosure.

    Raises:
        RecordValidationError: naming the field (``.field`` and the message):
            a field the category does not list, a missing required field, an
            over-long or badly typed value, an invalid identifier, no subject
            or two, a decision date in the future, or a period already over;
            an unknown category has ``.field`` None.
        LimitExceededError: more fields than ``limits`` allow, before any check.
    """
    category = catalog.category(category_code)
    limits.check_count(
        f"fields of a {category.code} record", len(fields), limits.max_fields_per_record
    )
    present = {code: value.strip() for code, value in fields.items() if value.strip()}
    for code in sorted(present):
        if not category.has_field(code):
            raise _refuse(
                code, f"not in the catalog for category {category.code} (minimal collection)"
            )
    values: dict[str, str] = {}
    for spec in category.fields:
        value = present.get(spec.code)
        if value is None:
            if spec.required:
                raise _refuse(spec.code, f"required by category {category.code}, but missing")
            continue
        values[spec.code] = _normalise(spec, value, present, today)
    subject_type, subject_field = _subject(category, values)
    decided = date.fromisoformat(values[category.decision_date_field])
    if decided > today:
        raise _refuse(category.decision_date_field, f"{decided} is after today ({today})")
    severity = category.severity_of(values)
    expires, reason = _expiry(category, values, severity)
    if expires < today:
        raise _refuse(reason, f"the disclosure period ended on {expires}, before today ({today})")
    return ValidatedRecord(
        category=category.code,
        subject_type=subject_type,
        subject_id=values[subject_field],
        document_number=values[category.document_field],
        fields=MappingProxyType(values),
        decision_date=decided,
        severity=severity,
        expires_on=expires,
    )
