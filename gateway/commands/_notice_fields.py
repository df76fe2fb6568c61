"""The fields of a list entry, assembled from ``gateway notices issue`` options.

Every list category has its own fields (失信被执行人 has a case number and an
executing court, 重大税收违法失信主体 a decision number and a deciding tax
authority ...). The command takes them three ways, which combine: a JSON
object (``--fields``, inline or a file), ``--field CODE=VALUE`` pairs, and
named options (``--subject``, ``--document``, ``--reason`` ...) that mean the
same thing in every list and are mapped onto the category's own field by its
catalog roles. A value given twice with two meanings is refused rather than
silently picked; the node validates the result against its catalog again.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from gateway.core import strict_json
from gateway.core.catalog import Category
from gateway.core.errors import IdentifierError, InputError
from gateway.core.identifiers import SubjectType, validate_citizen_id, validate_uscc

__all__ = ["NamedOptions", "assemble_fields", "missing_fields", "read_fields_json"]

# A named option -> the fields that carry it, by list: the first one the
# category has is used (LB_ fields of administrative lists, the court's own
# fields of 失信被执行人, HM_ fields of the red list).
_BY_OPTION: Mapping[str, tuple[str, ...]] = {
    "name": ("XDR_MC",),
    "reason": ("LB_LRYY", "LB_SXQX"),
    "basis": ("LB_YJ", "LB_ZXYJ", "HM_YJ"),
    "authority": ("LB_RDJG", "LB_ZCJG", "LB_ZXFY", "HM_RDJG"),
    "authority_code": ("LB_RDJGDM", "LB_ZCJGDM", "HM_RDJGDM"),
    "measures": ("LB_CJCS", "HM_JLCS"),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class NamedOptions:
    """The named options of ``notices issue``; None: not given."""

    subject: str | None = None
    name: str | None = None
    document: str | None = None
    reason: str | None = None
    basis: str | None = None
    authority: str | None = None
    authority_code: str | None = None
    decided: str | None = None
    until: str | None = None
    measures: str | None = None


def read_fields_json(value: str) -> dict[str, str]:
    """``--fields``: a JSON object of field code -> text, inline (``{...}``) or a file path.

    Raises:
        InputError: unreadable file, not strict JSON, not an object of texts.
    """
    if value.lstrip().startswith("{"):
        data, where = value.encode("utf-8"), "--fields"
    else:
        try:
            data, where = Path(value).read_bytes(), value
        except OSError as exc:
            raise InputError(f"cannot read --fields file {value}: {exc.strerror}") from None
    try:
        parsed = strict_json.loads(data)
    except strict_json.StrictJsonError as exc:
        raise InputError(f"{where} is not valid JSON: {exc}") from None
    if not isinstance(parsed, dict) or not all(isinstance(v, str) for v in parsed.values()):
        raise InputError(f"{where} must be a JSON object of field code -> text")
    return dict(parsed)


def _subject_fields(category: Category, subject: str) -> dict[str, str]:
    try:
        subject_type, key = SubjectType.LEGAL_PERSON, validate_uscc(subject)
    except IdentifierError:
        subject_type, key = SubjectType.NATURAL_PERSON, validate_citizen_id(subject)
    code = category.subject_fields.get(subject_type)
    if code is None:
        kind = subject_type.value.replace("_", " ")
        raise InputError(f"list {category.code} does not list a {kind}")
    out = {code: key}
    if category.subject_type_field is not None:
        label = next(v for v, t in category.subject_type_values.items() if t is subject_type)
        out[category.subject_type_field] = label
    companion = category.field(code).id_type_field
    if companion is not None:
        out[companion] = "身份证"
    return out


def _field_for(category: Category, option: str) -> str:
    code = next((c for c in _BY_OPTION[option] if category.has_field(c)), None)
    if code is None:
        flag = "--" + option.replace("_", "-")
        raise InputError(f"list {category.code} has no field for {flag}; give it with --field")
    return code


def assemble_fields(
    category: Category,
    *,
    given: Mapping[str, str],
    options: NamedOptions,
    today: dt.date,
) -> dict[str, str]:
    """The entry's fields: ``given`` (JSON and ``--field``) plus the named options.

    The decision date defaults to ``today``.

    Raises:
        InputError: a named option the list has no field for, a subject that
            the list does not take, or a field given two different values.
        IdentifierError: ``--subject`` is neither a USCC nor a citizen number.
    """
    named: dict[str, str] = {}
    if options.subject is not None:
        named.update(_subject_fields(category, options.subject))
    if options.document is not None:
        named[category.document_field] = options.document
    if options.until is not None:
        if category.publication_deadline_field is None:
            raise InputError(f"list {category.code} has no end date to set with --until")
        named[category.publication_deadline_field] = options.until
    for option in _BY_OPTION:
        value = getattr(options, option)
        if value is not None:
            named[_field_for(category, option)] = value
    fields = dict(given)
    for code, value in named.items():
        if fields.get(code, value) != value:
            raise InputError(f"field {code} is given twice: {fields[code]!r} and {value!r}")
        fields[code] = value
    date_field = category.decision_date_field
    if options.decided is not None:
        if fields.get(date_field, options.decided) != options.decided:
            raise InputError(f"field {date_field} is given twice")
        fields[date_field] = options.decided
    fields.setdefault(date_field, today.isoformat())
    return fields


def missing_fields(category: Category, fields: Mapping[str, str]) -> list[str]:
    """The required fields of ``category`` that ``fields`` lacks, as ``CODE (label)``."""
    return [
        f"{spec.code} ({spec.label})"
        for spec in category.fields
        if spec.required and not fields.get(spec.code, "").strip()
    ]
