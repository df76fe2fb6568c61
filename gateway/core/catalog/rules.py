"""The checks of one catalog category on its own: lawful, consistent, collectable.

Nothing in a category may name data that the law forbids collecting
(征信业管理条例 第十四条: religion, genes, fingerprints, blood type, illness
and medical history), whether by its code, its label or its declared kind.
Periods must be within the NDRC credit repair rules (2025). Every field a rule
refers to must exist, and the ``_sd`` array must hold every disclosure.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable

from gateway.core.catalog.model import (
    ANY_DOMAIN,
    LOCAL_DECISION,
    Category,
    CategoryKind,
    FieldSpec,
    FieldType,
    RecipientKind,
    Sensitivity,
    Severity,
    ShareRule,
    Visibility,
)
from gateway.core.errors import CatalogError
from gateway.core.identifiers import SubjectType
from gateway.core.limits import DEFAULT_LIMITS

__all__ = ["check_category_rules", "prohibited_kind"]

_ErrorFactory = Callable[..., CatalogError]

_DOMAIN = re.compile(r"[a-z][a-z0-9_]*")

# (what, Chinese keywords, English and pinyin tokens). Chinese matches as a
# substring; English matches whole words (and word pairs), so "general" does
# not trip "gene". 诚信 is good faith, hence no "faith".
_PROHIBITED: tuple[tuple[str, tuple[str, ...], frozenset[str]], ...] = (
    (
        "religion (宗教信仰)",
        ("宗教", "信仰"),
        frozenset({"religion", "religious", "zongjiao", "xinyang"}),
    ),
    (
        "genes (基因)",
        ("基因",),
        frozenset({"gene", "genes", "genetic", "genome", "genomic", "dna", "jiyin"}),
    ),
    ("fingerprints (指纹)", ("指纹",), frozenset({"fingerprint", "fingerprints", "zhiwen"})),
    (
        "blood type (血型)",
        ("血型",),
        frozenset({"bloodtype", "blood_type", "blood_group", "xuexing"}),
    ),
    (
        "illness or medical history (疾病、病史)",
        ("疾病", "病史", "病历", "病情"),
        frozenset(
            {
                "illness",
                "disease",
                "diseases",
                "sickness",
                "medical_history",
                "medical_record",
                "diagnosis",
                "jibing",
                "bingshi",
            }
        ),
    ),
)
_WORD = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")

# NDRC credit repair rules (2025): disclosure period and the earliest credit
# repair, in months from the decision, per severity of dishonesty.
_LAWFUL_MONTHS = {Severity.MINOR: (1, 3), Severity.GENERAL: (3, 12), Severity.SERIOUS: (12, 36)}
_REPAIR_FLOOR_MONTHS = {Severity.MINOR: 0, Severity.GENERAL: 3, Severity.SERIOUS: 12}
# Licences, red lists and commitments are not dishonesty; nothing stays longer
# than the longest lawful period for dishonesty either.
_OTHER_MONTHS = (1, 36)
_OBJECTION_DAYS = (1, 60)
# Deadlines are a few working days (7 for 双公示); a month of them is a typo.
_MAX_REPORTING_WORKING_DAYS = 22
_SHORTEST_MAX_CHARS = {
    FieldType.DATE: 10,
    FieldType.USCC: 18,
    FieldType.ID_NUMBER: 18,
    FieldType.REGION: 6,
}


def prohibited_kind(*texts: str) -> str | None:
    """Which prohibited kind of data ``texts`` (codes, labels, kinds) name, if any."""
    for text in texts:
        words = [w.lower() for w in _WORD.findall(text)]
        pairs = list(itertools.pairwise(words))
        tokens = {*words, *(f"{a}_{b}" for a, b in pairs), *(f"{a}{b}" for a, b in pairs)}
        for what, chinese, english in _PROHIBITED:
            if any(keyword in text for keyword in chinese) or tokens & english:
                return what
    return None


def check_category_rules(category: Category, *, source: str) -> None:
    """Check one category on its own; see :func:`gateway.core.catalog.check_category`.

    Raises:
        CatalogError: naming the source and the category, field or rule at fault.
    """
    entry = f"category {category.code}"

    def error(message: str, where: str | None = None) -> CatalogError:
        return CatalogError(message, source=source, entry=f"{entry}, {where}" if where else entry)

    codes = category.field_codes
    duplicates = sorted({code for code in codes if codes.count(code) > 1})
    if duplicates:
        raise error(f"field {duplicates[0]} is listed twice")
    for spec in category.fields:
        _check_field(spec, category, lambda message, s=spec: error(message, f"field {s.code}"))
    _check_roles(category, error)
    _check_periods(category, error)
    _check_list(category, error)
    _check_sharing(category, error)
    low, high = _OBJECTION_DAYS
    if not low <= category.objection_deadline_days <= high:
        raise error(
            f"objection deadline of {category.objection_deadline_days} days "
            f"is outside {low} to {high} days"
        )
    reporting = category.reporting_working_days
    if reporting is not None and not 1 <= reporting <= _MAX_REPORTING_WORKING_DAYS:
        raise error(
            f"a reporting deadline of {reporting} working days "
            f"is outside 1 to {_MAX_REPORTING_WORKING_DAYS}"
        )
    needed = category.disclosure_count
    if needed > DEFAULT_LIMITS.max_disclosures_per_record:
        raise error(
            f"{needed} disclosures per record exceed the limit of "
            f"{DEFAULT_LIMITS.max_disclosures_per_record}"
        )
    if not needed <= category.sd_size <= DEFAULT_LIMITS.max_sd_digests_per_record:
        raise error(
            f"sd_size {category.sd_size} is too small: {len(category.fields)} fields and "
            f"{needed - len(category.fields)} masked variants need {needed}"
            if category.sd_size < needed
            else f"sd_size {category.sd_size} exceeds the limit of "
            f"{DEFAULT_LIMITS.max_sd_digests_per_record}"
        )


def _check_field(spec: FieldSpec, category: Category, error: _ErrorFactory) -> None:
    if not 1 <= spec.max_chars <= DEFAULT_LIMITS.max_field_chars:
        raise error(f"max_chars {spec.max_chars} is outside 1 to {DEFAULT_LIMITS.max_field_chars}")
    shortest = _SHORTEST_MAX_CHARS.get(spec.type, 1)
    if spec.type is FieldType.ENUM:
        if not spec.allowed:
            raise error("an enum field needs its allowed values")
        shortest = max(len(value) for value in spec.allowed)
    elif spec.allowed:
        raise error(f"allowed values are for enum fields, not {spec.type}")
    if spec.max_chars < shortest:
        raise error(f"max_chars {spec.max_chars} is below the {shortest} a value needs")
    if spec.type is FieldType.ID_NUMBER:
        companion = spec.id_type_field
        if companion is None or companion == spec.code or not category.has_field(companion):
            raise error("an id_number field needs id_type_field naming another field")
        if category.field(companion).type not in (FieldType.ENUM, FieldType.STRING):
            raise error(f"id_type_field {companion} must be an enum or string field")
    elif spec.id_type_field is not None:
        raise error(f"id_type_field is for id_number fields, not {spec.type}")
    special = spec.natural_person_sensitivity
    if special is not None and (special.rank <= spec.sensitivity.rank or spec.subject):
        raise error(
            "natural_person_sensitivity must be stricter than sensitivity, "
            "on a field shared by both subject blocks"
        )
    if spec.mask is not None and spec.sensitivity_for() is Sensitivity.PUBLIC:
        raise error("a public field has nothing to mask")
    if spec.person is not None and not (
        spec.type is FieldType.ID_NUMBER
        and spec.subject is SubjectType.LEGAL_PERSON
        and spec.sensitivity is Sensitivity.PERSONAL
        and spec.mask is not None
    ):
        raise error(
            "a person field must be a personal id_number of the legal_person block, "
            "with a mask (its masked variant is what other recipients get)"
        )


def _check_roles(category: Category, error: _ErrorFactory) -> None:
    if not category.subject_fields:
        raise error("subject_fields names no subject identifier")
    expected = {
        SubjectType.LEGAL_PERSON: FieldType.USCC,
        SubjectType.NATURAL_PERSON: FieldType.ID_NUMBER,
    }
    for subject_type, code in category.subject_fields.items():
        spec = _named(category, code, f"subject field for {subject_type}", error)
        if spec.subject is not subject_type or spec.type is not expected[subject_type]:
            raise error(
                f"subject field {code} for {subject_type} must be a {expected[subject_type]} "
                f"field of the {subject_type} block"
            )
    # (field, its role, the type it must have, whether it must be required)
    wanted: tuple[tuple[str | None, str, FieldType, bool], ...] = (
        (category.document_field, "document_field", FieldType.STRING, True),
        (category.decision_date_field, "decision_date_field", FieldType.DATE, True),
        (category.publication_deadline_field, "publication_deadline_field", FieldType.DATE, False),
        (category.severity_field, "severity_field", FieldType.ENUM, False),
        (category.subject_type_field, "subject_type_field", FieldType.ENUM, False),
    )
    for name, role, field_type, required in wanted:
        if name is None:
            continue
        spec = _named(category, name, role, error)
        if spec.type is not field_type or (required and not spec.required):
            kind = "a required" if required else "a"
            raise error(f"{role} {name} must be {kind} {field_type} field")
    if category.severity_field is not None:
        for value in category.field(category.severity_field).allowed:
            if value not in tuple(Severity) or Severity(value) not in category.periods_months:
                raise error(f"severity value {value!r} of {category.severity_field} has no period")
    values = category.subject_type_values
    if category.subject_type_field is None:
        if values:
            raise error("subject_type_values without subject_type_field")
        return
    allowed = set(category.field(category.subject_type_field).allowed)
    if set(values) != allowed or not set(values.values()) <= set(category.subject_fields):
        raise error(
            f"subject_type_values must map every value of {category.subject_type_field} "
            "to a subject type that has a subject field"
        )


def _named(category: Category, code: str, role: str, error: _ErrorFactory) -> FieldSpec:
    for spec in category.fields:
        if spec.code == code:
            return spec
    raise error(f"{role} {code} is not a field of the category")


def _check_periods(category: Category, error: _ErrorFactory) -> None:
    periods = category.periods_months
    if category.default_severity not in periods:
        raise error(f"no period for the default severity {category.default_severity}")
    for severity, months in periods.items():
        low, high = _LAWFUL_MONTHS[severity] if category.is_dishonesty else _OTHER_MONTHS
        if not low <= months <= high:
            raise error(
                f"the {severity} period of {months} months is outside the law "
                f"({low} to {high} months; NDRC credit repair rules 2025)"
            )
        repair = category.repair_min_months.get(severity)
        if repair is None:
            if category.is_dishonesty:
                raise error(f"no minimum before credit repair for {severity}")
            continue
        floor = _REPAIR_FLOOR_MONTHS[severity] if category.is_dishonesty else 0
        if not floor <= repair <= months:
            raise error(
                f"the {severity} minimum before credit repair of {repair} months "
                f"is outside {floor} to {months} months"
            )
    extra = sorted(set(category.repair_min_months) - set(periods))
    if extra:
        raise error(f"a minimum before credit repair for {extra[0]}, which has no period")


def _check_list(category: Category, error: _ErrorFactory) -> None:
    """A list rests on law (湘政办发〔2021〕54号: 必须以法律、法规…为依据) and says who files it."""
    if not category.kind.is_list:
        return
    if not category.basis.strip():
        raise error("a list needs its legal basis (basis)")
    if not category.filing_domains:
        raise error(f"a list needs the domains that file it (filing_domains; {ANY_DOMAIN!r}: any)")
    if not category.measures:
        raise error("a list needs the measures it carries")
    if not category.period_basis.strip():
        raise error(
            "a list needs the source of its period (period_basis: a citation, "
            f"or {LOCAL_DECISION!r} when it is a local decision)"
        )


def _check_sharing(category: Category, error: _ErrorFactory) -> None:
    lists = (CategoryKind.BLACKLIST, CategoryKind.REDLIST)
    if category.measures and category.kind not in lists:
        raise error(f"measures are for black and red lists, not a {category.kind} category")
    if category.green_domains and category.kind is not CategoryKind.REDLIST:
        raise error("green_domains are for red lists")
    for domain in category.green_domains:
        if not _DOMAIN.fullmatch(domain):
            raise error(f"green domain {domain!r} is not a domain name")
    for domain in category.filing_domains:
        if domain != ANY_DOMAIN and not _DOMAIN.fullmatch(domain):
            raise error(f"filing domain {domain!r} is not a domain name")
    if ANY_DOMAIN in category.filing_domains and len(category.filing_domains) > 1:
        raise error(f"filing domain {ANY_DOMAIN!r} already names every domain")
    _check_reference(category, error)
    seen: set[str] = set()
    for rule in category.share_rules:
        where = f"share rule {rule.rule_id}"
        if rule.rule_id in seen:
            raise error("is listed twice", where)
        seen.add(rule.rule_id)
        _check_rule(category, rule, lambda message, w=where: error(message, w))


def _check_reference(category: Category, error: _ErrorFactory) -> None:
    if category.check_reference and category.kind.is_list:
        raise error("check_reference is for records and commitments: a check reads every list")
    if category.review_domains and not category.check_reference:
        raise error("review_domains needs check_reference = true")
    visible: set[str] = set()
    for rule in category.share_rules:
        if rule.recipient is RecipientKind.DEPARTMENT:
            visible |= rule.domains
    for severity, domains in category.review_domains.items():
        if severity not in category.periods_months:
            raise error(f"review_domains names severity {severity}, which has no period")
        for domain in sorted(domains):
            if not _DOMAIN.fullmatch(domain):
                raise error(f"review domain {domain!r} is not a domain name")
            if domain not in visible and "*" not in visible:
                # A check there could never see the record it is told to weigh.
                raise error(f"review domain {domain} is granted no department share rule")


def _check_rule(category: Category, rule: ShareRule, error: _ErrorFactory) -> None:
    department = rule.recipient is RecipientKind.DEPARTMENT
    if department != bool(rule.domains) or department != bool(rule.roles):
        raise error("domains and roles are required for departments, and only for them")
    for domain in rule.domains:
        if domain != "*" and not _DOMAIN.fullmatch(domain):
            raise error(f"domain {domain!r} is not a domain name")
    for code, visibility in rule.fields.items():
        spec = _named(category, code, "override of field", error)
        if visibility is Visibility.MASKED and spec.mask is None:
            raise error(f"field {code} has no mask rule to send it masked")
    if rule.recipient is not RecipientKind.PUBLIC:
        return
    if not category.publishable:
        raise error("the category is not publishable, so it has no public rule")
    for spec in category.fields:
        if (
            spec.sensitivity_for() is Sensitivity.PERSONAL
            and rule.visibility(spec) is Visibility.CLEAR
        ):
            raise error(f"publishes personal field {spec.code} in clear")
