"""Sharing scope, as properties over random catalogs, records and recipients.

Whatever the catalog says, a record redacted by its plan must still verify,
carry only the disclosures the plan allows, and never carry a withheld value or
the clear value of a field sent masked; an unshared record is refused. The
catalogs are built directly (not parsed), so they need not be lawful: the
properties must hold for any rules, not only for the ones the parser accepts.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import date

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.core.algorithms import Ed25519Signer, Verifier
from gateway.core.catalog import (
    Category,
    CategoryKind,
    FieldSpec,
    FieldType,
    ObjectionSuspends,
    RecipientKind,
    Sensitivity,
    Severity,
    ShareRule,
    Visibility,
)
from gateway.core.errors import AccessDeniedError
from gateway.core.identifiers import SubjectType
from gateway.core.masking import MaskRule, apply_mask
from gateway.core.policy import (
    MASKED_SUFFIX,
    Recipient,
    decide,
    disclosure_names,
    explain,
    require_shared,
)
from gateway.core.record_fields import ValidatedRecord
from gateway.core.records import issue_record, redact_record, verify_record
from gateway.core.sdjwt import parse_sd_jwt

NOW = 1_750_000_000
ISSUER = "330500"
SIGNER = Ed25519Signer("node-330500-sign-1", Ed25519PrivateKey.generate())
DOMAINS = ("procurement", "bidding")
ROLES = ("department", "enforcement")


def _resolve(kid: str) -> Verifier:
    return {SIGNER.key_id: SIGNER.verifier()}[kid]


def _owner(kid: str) -> str:
    return {SIGNER.key_id: ISSUER}[kid]


# -- strategies ------------------------------------------------------------------------

_visibility = st.sampled_from(Visibility)
_sensitivity = st.sampled_from(Sensitivity)

# '*' is left out because masking a value made of stars gives the value back
# (nothing hidden, nothing revealed); '<' and '>' delimit each value's unique tag.
_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="*<>"), min_size=0, max_size=24
)


@st.composite
def _field_specs(draw: st.DrawFn) -> tuple[FieldSpec, ...]:
    count = draw(st.integers(min_value=1, max_value=6))
    return tuple(
        FieldSpec(
            code=f"F{index}",
            label=f"field {index}",
            type=FieldType.STRING,
            required=False,
            sensitivity=draw(_sensitivity),
            mask=draw(st.sampled_from((None, *MaskRule))),
            max_chars=64,
            natural_person_sensitivity=draw(st.none() | _sensitivity),
        )
        for index in range(count)
    )


@st.composite
def _grants(draw: st.DrawFn) -> dict[Sensitivity, Visibility]:
    # Each sensitivity granted something, or left out (withheld by default).
    drawn = {s: draw(st.sampled_from((None, *Visibility))) for s in Sensitivity}
    return {s: v for s, v in drawn.items() if v is not None}


@st.composite
def _share_rules(draw: st.DrawFn, codes: tuple[str, ...]) -> tuple[ShareRule, ...]:
    count = draw(st.integers(min_value=0, max_value=5))
    rules = []
    for index in range(count):
        kind = draw(st.sampled_from(RecipientKind))
        department = kind is RecipientKind.DEPARTMENT
        domains = draw(st.frozensets(st.sampled_from((*DOMAINS, "*")), min_size=1))
        roles = draw(st.frozensets(st.sampled_from(ROLES), min_size=1))
        rules.append(
            ShareRule(
                recipient=kind,
                domains=domains if department else frozenset(),
                roles=roles if department else frozenset(),
                by_sensitivity=draw(_grants()),
                fields=draw(st.dictionaries(st.sampled_from(codes), _visibility, max_size=3)),
                rule_id=f"rule-{index}",
            )
        )
    return tuple(rules)


@st.composite
def _categories(draw: st.DrawFn) -> Category:
    specs = draw(_field_specs())
    disclosures = len(specs) + sum(1 for spec in specs if spec.mask is not None)
    return Category(
        code="random_category",
        label="random category",
        kind=CategoryKind.RECORD,
        fields=specs,
        subject_fields={},
        document_field=specs[0].code,
        decision_date_field=specs[0].code,
        severity_field=None,
        default_severity=Severity.GENERAL,
        periods_months={Severity.GENERAL: 12},
        publishable=draw(st.booleans()),
        objection_suspends=ObjectionSuspends.NEVER,
        objection_deadline_days=15,
        repair_min_months={},
        sd_size=disclosures + draw(st.integers(min_value=0, max_value=4)),
        share_rules=draw(_share_rules(tuple(spec.code for spec in specs))),
    )


@st.composite
def _recipients(draw: st.DrawFn) -> Recipient:
    kind = draw(st.sampled_from(RecipientKind))
    if kind is RecipientKind.DEPARTMENT:
        return Recipient(
            kind,
            domain=draw(st.none() | st.sampled_from((*DOMAINS, "education"))),
            role=draw(st.none() | st.sampled_from(ROLES)),
        )
    return Recipient(kind, node_id=draw(st.none() | st.just("330000")))


@st.composite
def _recipient_of(draw: st.DrawFn, rule: ShareRule) -> Recipient:
    if rule.recipient is not RecipientKind.DEPARTMENT:
        return Recipient(rule.recipient)
    domains = sorted(rule.domains - {"*"}) or ["education"]
    domain = draw(st.sampled_from(domains))
    return Recipient(rule.recipient, domain=domain, role=draw(st.sampled_from(sorted(rule.roles))))


@dataclass(frozen=True)
class Case:
    category: Category
    values: dict[str, str]
    subject_type: SubjectType
    decide_subject: SubjectType | None
    recipient: Recipient


@st.composite
def _cases(draw: st.DrawFn) -> Case:
    category = draw(_categories())
    values: dict[str, str] = {}
    for index, spec in enumerate(category.fields):
        if draw(st.booleans()) or index == 0:
            # The tag makes each value unique and never part of another one.
            values[spec.code] = f"{draw(_text)}<v{index}>"
    subject_type = draw(st.sampled_from(SubjectType))
    # Callers pass the record's own subject type; None is the strictest reading.
    decide_subject = draw(st.sampled_from((subject_type, None)))
    # Mostly a recipient some rule is written for, so that plans are often shared.
    rules = category.share_rules
    if draw(st.integers(min_value=0, max_value=3)) > 0 and rules:
        recipient = draw(_recipient_of(draw(st.sampled_from(rules))))
    else:
        recipient = draw(_recipients())
    return Case(category, values, subject_type, decide_subject, recipient)


def _issue(case: Case) -> str:
    record = ValidatedRecord(
        category=case.category.code,
        subject_type=case.subject_type,
        subject_id="91330500MA2B3C4D5E",
        document_number="doc-1",
        fields={
            code: case.values[code] for code in case.category.field_codes if code in case.values
        },
        decision_date=date(2025, 1, 1),
        severity=Severity.GENERAL,
        expires_on=date(2030, 1, 1),
    )
    return issue_record(
        record,
        case.category,
        issuer=ISSUER,
        record_id=f"{ISSUER}-rec-1",
        version=1,
        catalog_version="random",
        signer=SIGNER,
        now=NOW,
    )


def _b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _exposed(sd_jwt: str) -> list[str]:
    """Every text a recipient can read in ``sd_jwt``, decoded without the code under test."""
    issuer_jwt, *disclosures = sd_jwt.split("~")
    header, payload, _signature = issuer_jwt.split(".")
    texts = [sd_jwt, _b64decode(header).decode(), _b64decode(payload).decode()]
    for encoded in filter(None, disclosures):
        decoded = _b64decode(encoded).decode("utf-8")
        texts.append(decoded)
        texts.extend(str(item) for item in json.loads(decoded))
    return texts


def _leaks(value: str, texts: list[str]) -> bool:
    return any(value in text for text in texts)


# -- properties ------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(_cases())
def test_what_a_recipient_receives_verifies_and_leaks_nothing(case: Case) -> None:
    plan = decide(case.category, case.recipient, case.decide_subject)
    sd_jwt = _issue(case)
    redacted = redact_record(sd_jwt, plan)

    # (a) the issuer's signature still verifies after redaction.
    received = verify_record(redacted, resolve_key=_resolve, key_owner=_owner, now=NOW)

    # (b) only disclosures the plan allows are present.
    names = {d.name for d in parse_sd_jwt(redacted).disclosures}
    assert names <= disclosure_names(plan)

    # (c) withheld values, and the clear values of masked fields, are nowhere to be read.
    texts = _exposed(redacted)
    for code, value in case.values.items():
        visibility = plan.visibility(code)
        spec = case.category.field(code)
        if visibility is Visibility.CLEAR:
            # The search finds what is there, so its misses mean something.
            assert _leaks(value, texts)
            assert received.clear[code] == value
        else:
            assert not _leaks(value, texts), f"{visibility} field {code} leaked"
            assert code not in received.clear
        if visibility is Visibility.MASKED:
            assert spec.mask is not None
            assert received.masked[code] == apply_mask(spec.mask, value)
        else:
            assert code not in received.masked
            assert code + MASKED_SUFFIX not in names

    # (d) a record that is not shared is refused, and redacts to nothing.
    if not plan.shared:
        assert names == set()
        with pytest.raises(
            AccessDeniedError,
            match=rf"category random_category is not shared with {case.recipient.kind.value}",
        ):
            require_shared(plan)
    else:
        assert require_shared(plan) is plan


@settings(max_examples=60, deadline=None)
@given(_categories(), _recipients(), st.none() | st.sampled_from(SubjectType))
def test_no_rule_for_the_recipient_means_not_shared(
    category: Category, recipient: Recipient, subject_type: SubjectType | None
) -> None:
    plan = decide(category, recipient, subject_type)
    same_kind = [rule for rule in category.share_rules if rule.recipient is recipient.kind]
    if not same_kind:
        assert (plan.shared, plan.rule) == (False, "default-deny")
    if recipient.kind is RecipientKind.PUBLIC and not category.publishable:
        assert not plan.shared
    if plan.shared:
        assert set(plan.fields) == set(category.field_codes)
        masked = {code for code, v in plan.fields.items() if v is Visibility.MASKED}
        assert all(category.field(code).mask is not None for code in masked)


@settings(max_examples=60, deadline=None)
@given(_categories(), _recipients(), st.none() | st.sampled_from(SubjectType))
def test_explain_agrees_with_decide(
    category: Category, recipient: Recipient, subject_type: SubjectType | None
) -> None:
    plan = decide(category, recipient, subject_type)
    explanation = explain(category, recipient, subject_type)
    assert explanation.plan == plan
    assert [d.code for d in explanation.fields] == list(category.field_codes)
    rules = {rule.rule_id: rule for rule in category.share_rules}
    for decision in explanation.fields:
        assert decision.visibility is plan.visibility(decision.code)
        spec = category.field(decision.code)
        if plan.shared:
            # Every named rule exists, and each grants exactly what the field gets.
            for rule_id in decision.rule.split("+"):
                assert rules[rule_id].visibility(spec, subject_type) is decision.visibility
        else:
            assert decision.rule == plan.rule
