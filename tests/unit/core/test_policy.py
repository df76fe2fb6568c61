"""Sharing scope: what each recipient gets of each category of the national base catalog.

The expectations are written out by hand from ``gateway/data/catalog/000000.toml``
(field sensitivities, masks and ``[[category.share]]`` grants), never derived
from the code under test: every category, every recipient kind, a department
for every domain the catalog names and one it does not, for both subject types.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest

from gateway.core.catalog import (
    Catalog,
    Category,
    RecipientKind,
    Sensitivity,
    ShareRule,
    Visibility,
)
from gateway.core.errors import AccessDeniedError, ScopeViolationError
from gateway.core.identifiers import SubjectType
from gateway.core.policy import (
    Recipient,
    SharePlan,
    check_received,
    decide,
    disclosure_names,
    explain,
    node_relation,
    require_shared,
)
from gateway.node.catalog_files import load_packaged_catalog

CLEAR, MASKED, WITHHELD = Visibility.CLEAR, Visibility.MASKED, Visibility.WITHHELD
LEGAL, NATURAL = SubjectType.LEGAL_PERSON, SubjectType.NATURAL_PERSON


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_packaged_catalog("000000")


# -- the base catalog, read by eye ----------------------------------------------------


@dataclass(frozen=True)
class Fields:
    """A category's fields by sensitivity, for records about legal persons."""

    public: frozenset[str]
    restricted: frozenset[str]
    personal: frozenset[str]


def _fields(public: str, restricted: str, personal: str) -> Fields:
    return Fields(
        frozenset(public.split()), frozenset(restricted.split()), frozenset(personal.split())
    )


_LEGAL_IDS = "XDR_SHXYM XDR_GSZC XDR_ZZJG XDR_SWDJ XDR_SYDW XDR_SHZZ"

FIELDS: dict[str, Fields] = {
    "admin_licence": _fields(
        f"XDR_MC XDR_LB {_LEGAL_IDS} XK_XKWS XK_WSH XK_XKLB XK_XKZS XK_XKBH XK_NR XK_JDRQ "
        "XK_YXQZ XK_YXQZI XK_XKJG XK_XKJGDM XK_ZT",
        "FR_ZJLX XDR_ZJLX XK_LYDW XK_LYDWDM BZ",
        "FRDB FR_ZJHM XDR_ZJHM",
    ),
    "admin_penalty": _fields(
        f"XDR_MC XDR_LB {_LEGAL_IDS} CF_WSH CF_WFXW CF_YJ CF_CFLB CF_NR CF_NR_FK CF_JDRQ "
        "CF_YXQ CF_GSJZQ CF_CFJG CF_CFJGDM CF_YZCD",
        "FR_ZJLX XDR_ZJLX CF_NR_WFFF CF_NR_ZKDX CF_SJLY CF_SJLYDM BZ",
        "FRDB FR_ZJHM XDR_ZJHM",
    ),
    "serious_dishonesty": _fields(
        "XDR_MC XDR_LB XDR_SHXYM LB_WSH LB_LRYY LB_YJ LB_JDRQ LB_RDJG LB_RDJGDM LB_YXQZ LB_CJCS",
        "FR_ZJLX XDR_ZJLX BZ",
        "FRDB FR_ZJHM XDR_ZJHM",
    ),
    "dishonest_debtor": _fields(
        "XDR_MC XDR_LB XDR_SHXYM LB_AH LB_ZXFY LB_ZXYJ LB_SXQX LB_LXQK LB_FBRQ LB_YXQZ LB_CJCS",
        "FR_ZJLX LB_SJKZR_ZJLX LB_ZRRY_ZJLX XDR_ZJLX BZ",
        "FRDB FR_ZJHM LB_SJKZR LB_SJKZR_ZJHM LB_ZRRY LB_ZRRY_ZJHM XDR_ZJHM",
    ),
    "abnormal_operation": _fields(
        "XDR_MC XDR_SHXYM LB_WSH LB_LRYY LB_JDRQ LB_ZCJG LB_ZCJGDM",
        "BZ",
        "FRDB",
    ),
    **{
        code: _fields(
            "XDR_MC XDR_LB XDR_SHXYM LB_WSH LB_LRYY LB_YJ LB_JDRQ LB_RDJG LB_RDJGDM LB_YXQZ "
            "LB_CJCS",
            "FR_ZJLX XDR_ZJLX BZ",
            "FRDB FR_ZJHM XDR_ZJHM",
        )
        for code in (
            "tax_major_violation",
            "procurement_dishonesty",
            "work_safety_dishonesty",
        )
    },
    # 保障农民工工资支付条例 第四十八条 also names the directly responsible persons.
    "wage_arrears_dishonesty": _fields(
        "XDR_MC XDR_LB XDR_SHXYM LB_WSH LB_LRYY LB_YJ LB_JDRQ LB_RDJG LB_RDJGDM LB_YXQZ LB_CJCS",
        "FR_ZJLX LB_ZRRY_ZJLX XDR_ZJLX BZ",
        "FRDB FR_ZJHM LB_ZRRY LB_ZRRY_ZJHM XDR_ZJHM",
    ),
    "statistics_dishonesty": _fields(
        "XDR_MC XDR_SHXYM LB_WSH LB_LRYY LB_YJ LB_JDRQ LB_RDJG LB_RDJGDM LB_YXQZ LB_CJCS",
        "FR_ZJLX BZ",
        "FRDB FR_ZJHM",
    ),
    "honours": _fields(
        "XDR_MC XDR_LB XDR_SHXYM HM_WSH HM_MDMC HM_YJ HM_RDRQ HM_RDJG HM_RDJGDM HM_YXQZ HM_JLCS",
        "XDR_ZJLX BZ",
        "FRDB XDR_ZJHM",
    ),
    "credit_commitment": _fields(
        "XDR_MC XDR_LB XDR_SHXYM CN_BH CN_LX CN_NR CN_RQ CN_SLDW CN_SLDWDM",
        "XDR_ZJLX CN_LXZT BZ",
        "FRDB XDR_ZJHM",
    ),
}

# Categories whose XDR_MC is personal when the subject is a natural person
# (natural_person_sensitivity = "personal"); 经营异常名录 lists enterprises only.
PERSON_NAMED = {
    "admin_licence",
    "admin_penalty",
    "serious_dishonesty",
    "dishonest_debtor",
    "tax_major_violation",
    "procurement_dishonesty",
    "work_safety_dishonesty",
    "wage_arrears_dishonesty",
    "honours",
    "credit_commitment",
}

# Rule-id prefix of each category's grants.
PREFIX = {
    "admin_licence": "licence",
    "admin_penalty": "penalty",
    "serious_dishonesty": "serious",
    "dishonest_debtor": "debtor",
    "abnormal_operation": "abnormal",
    "tax_major_violation": "tax",
    "procurement_dishonesty": "procurement-dishonesty",
    "work_safety_dishonesty": "work-safety",
    "wage_arrears_dishonesty": "wage-arrears",
    "statistics_dishonesty": "statistics",
    "honours": "honours",
    "credit_commitment": "commitment",
}

# The citizen numbers of the people restricted with a listed organisation (the
# key of the measures on persons): clear to parent and child nodes and to the
# departments applying such a measure, masked to everyone else.
PERSON_KEYS = {
    "serious_dishonesty": {"FR_ZJHM"},
    "dishonest_debtor": {"FR_ZJHM", "LB_SJKZR_ZJHM", "LB_ZRRY_ZJHM"},
    "tax_major_violation": {"FR_ZJHM"},
    "work_safety_dishonesty": {"FR_ZJHM"},
    "wage_arrears_dishonesty": {"FR_ZJHM", "LB_ZRRY_ZJHM"},
}
PERSON_DOMAINS = {
    "serious_dishonesty": {"licensing", "market_regulation", "qualification", "exit_control"},
    "dishonest_debtor": {
        "market_regulation",
        "high_consumption",
        "travel",
        "exit_control",
        "real_estate",
    },
    "tax_major_violation": {"exit_control"},
    "work_safety_dishonesty": {"licensing", "market_regulation"},
    "wage_arrears_dishonesty": {"licensing", "market_regulation", "travel"},
}

# Department domains granted (role "department"), and the rule granting them.
DEPARTMENTS: dict[str, tuple[str, set[str]]] = {
    "admin_licence": (
        "licence-dept",
        {"licensing", "market_regulation", "procurement", "bidding"},
    ),
    "admin_penalty": (
        "penalty-dept-screening",
        {"procurement", "bidding", "licensing", "public_office", "finance", "honours"},
    ),
    "serious_dishonesty": (
        "serious-dept",
        {
            "procurement",
            "bidding",
            "licensing",
            "public_office",
            "finance",
            "honours",
            "market_regulation",
            "land_resources",
            "qualification",
            "exit_control",
        },
    ),
    "dishonest_debtor": (
        "debtor-dept",
        {
            "procurement",
            "bidding",
            "public_office",
            "finance",
            "honours",
            "high_consumption",
            "travel",
            "market_regulation",
            "exit_control",
            "real_estate",
            "court",
        },
    ),
    "abnormal_operation": (
        "abnormal-dept",
        {"procurement", "bidding", "honours", "market_regulation"},
    ),
    "tax_major_violation": (
        "tax-dept",
        {
            "procurement",
            "bidding",
            "finance",
            "honours",
            "market_regulation",
            "land_resources",
            "exit_control",
            "tax",
        },
    ),
    "procurement_dishonesty": ("procurement-dishonesty-dept", {"procurement"}),
    "work_safety_dishonesty": (
        "work-safety-dept",
        {
            "procurement",
            "bidding",
            "licensing",
            "finance",
            "honours",
            "market_regulation",
            "land_resources",
            "emergency_management",
        },
    ),
    "wage_arrears_dishonesty": (
        "wage-arrears-dept",
        {
            "finance",
            "procurement",
            "bidding",
            "licensing",
            "market_regulation",
            "honours",
            "travel",
            "human_resources",
        },
    ),
    "statistics_dishonesty": (
        "statistics-dept",
        {"finance", "honours", "market_regulation", "statistics"},
    ),
    "honours": (
        "honours-dept",
        {"licensing", "market_regulation", "finance", "public_service", "procurement", "bidding"},
    ),
    "credit_commitment": ("commitment-dept", {"licensing", "market_regulation"}),
}

# Every domain the base catalog names (share rules and green domains), plus one it does not.
DOMAINS = (
    "bidding",
    "court",
    "emergency_management",
    "exit_control",
    "human_resources",
    "land_resources",
    "qualification",
    "real_estate",
    "statistics",
    "tax",
    "finance",
    "high_consumption",
    "honours",
    "licensing",
    "market_regulation",
    "procurement",
    "public_office",
    "public_service",
    "travel",
    "education",
)

# Recipient kinds without any rule in a category (fail closed).
NO_RULE: dict[str, set[str]] = {"credit_commitment": {"other_node"}}

# What each grant gives, by sensitivity (the base catalog uses three shapes).
FULL = "full"  # public, restricted clear; personal masked
PEER = "peer"  # public clear only
PUBLISH = "publish"  # public clear; personal masked; restricted withheld
EVERYTHING = "everything"  # all clear


@dataclass(frozen=True)
class Case:
    category: str
    recipient: Recipient
    subject_type: SubjectType
    rule: str  # "default-deny" when not shared
    shape: str | None


def _recipient(name: str) -> Recipient:
    if name.startswith("department:"):
        _, domain, role = name.split(":")
        return Recipient(RecipientKind.DEPARTMENT, domain=domain, role=role)
    return Recipient(RecipientKind(name))


def _cases() -> list[Case]:
    cases: list[Case] = []
    kinds = ("parent", "child", "other_node", "auditor", "public")
    shapes = {"parent": FULL, "child": FULL, "other_node": PEER, "auditor": FULL, "public": PUBLISH}
    rule_names = {"other_node": "other-node"}
    for subject_type in (LEGAL, NATURAL):
        for category in FIELDS:
            for kind in kinds:
                if kind in NO_RULE.get(category, set()):
                    cases.append(
                        Case(category, _recipient(kind), subject_type, "default-deny", None)
                    )
                    continue
                rule = f"{PREFIX[category]}-{rule_names.get(kind, kind)}"
                cases.append(Case(category, _recipient(kind), subject_type, rule, shapes[kind]))
            dept_rule, granted = DEPARTMENTS[category]
            for domain in DOMAINS:
                recipient = _recipient(f"department:{domain}:department")
                if domain in PERSON_DOMAINS.get(category, set()):
                    persons = f"{dept_rule}+{PREFIX[category]}-dept-persons"
                    cases.append(Case(category, recipient, subject_type, persons, FULL))
                elif domain in granted:
                    cases.append(Case(category, recipient, subject_type, dept_rule, FULL))
                else:
                    cases.append(Case(category, recipient, subject_type, "default-deny", None))
        # Enforcement officers of market regulation: the one "everything clear" grant.
        enforcement = _recipient("department:market_regulation:enforcement")
        cases.append(
            Case("admin_penalty", enforcement, subject_type, "penalty-dept-enforcement", EVERYTHING)
        )
    return cases


def _expected(case: Case) -> tuple[set[str], set[str]]:
    """(clear, masked) field codes for a shared case."""
    fields = FIELDS[case.category]
    public, restricted, personal = set(fields.public), set(fields.restricted), set(fields.personal)
    if case.subject_type is NATURAL and case.category in PERSON_NAMED:
        public.discard("XDR_MC")
        personal.add("XDR_MC")
    if case.shape == FULL:
        keys = PERSON_KEYS.get(case.category, set())
        if case.recipient.kind in {RecipientKind.PARENT, RecipientKind.CHILD} or (
            case.recipient.domain in PERSON_DOMAINS.get(case.category, set())
        ):
            return public | restricted | keys, personal - keys
        return public | restricted, personal
    if case.shape == PEER:
        return public, set()
    if case.shape == PUBLISH:
        return public, personal
    assert case.shape == EVERYTHING
    return public | restricted | personal, set()


CASES = _cases()


def _case_id(case: Case) -> str:
    return f"{case.category}-{case.recipient.describe()}-{case.recipient.role}-{case.subject_type}"


def test_the_table_covers_every_category_and_recipient_kind(catalog: Catalog) -> None:
    assert set(FIELDS) == set(catalog.categories)
    for code, fields in FIELDS.items():
        listed = fields.public | fields.restricted | fields.personal
        assert listed == set(catalog.category(code).field_codes), code
    kinds = {case.recipient.kind for case in CASES}
    assert kinds == set(RecipientKind)


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_share_plan_for_every_category_and_recipient(catalog: Catalog, case: Case) -> None:
    category = catalog.category(case.category)
    plan = decide(category, case.recipient, case.subject_type)
    assert plan.rule == case.rule
    if case.shape is None:
        assert not plan.shared
        assert disclosure_names(plan) == frozenset()
        return
    assert plan.shared
    clear, masked = _expected(case)
    assert {code for code, v in plan.fields.items() if v is CLEAR} == clear
    assert {code for code, v in plan.fields.items() if v is MASKED} == masked
    withheld = set(category.field_codes) - clear - masked
    assert {code for code, v in plan.fields.items() if v is WITHHELD} == withheld
    # A node holding a person's number in clear also keeps its masked variant, to serve it masked.
    relayed = set()
    if case.recipient.kind in {RecipientKind.PARENT, RecipientKind.CHILD}:
        relayed = PERSON_KEYS.get(case.category, set()) & clear
    assert plan.relayed_masks == relayed
    assert disclosure_names(plan) == frozenset(clear | {c + "#masked" for c in masked | relayed})


# -- fail closed -----------------------------------------------------------------------


def test_recipient_kind_without_a_rule_is_not_shared(catalog: Catalog) -> None:
    plan = decide(catalog.category("credit_commitment"), Recipient(RecipientKind.OTHER_NODE))
    assert (plan.shared, plan.rule, dict(plan.fields)) == (False, "default-deny", {})
    with pytest.raises(
        AccessDeniedError,
        match=r"category credit_commitment is not shared with other_node$",
    ) as caught:
        require_shared(plan)
    assert caught.value.rule == "default-deny"


def test_department_of_an_unlisted_domain_is_not_shared(catalog: Catalog) -> None:
    recipient = Recipient(RecipientKind.DEPARTMENT, domain="education", role="department")
    plan = decide(catalog.category("admin_penalty"), recipient, LEGAL)
    assert not plan.shared
    with pytest.raises(
        AccessDeniedError,
        match=r"category admin_penalty is not shared with department\(education\)",
    ):
        require_shared(plan)


def test_department_role_must_be_granted(catalog: Catalog) -> None:
    # market_regulation is granted admin_penalty for enforcement officers only.
    plain = Recipient(RecipientKind.DEPARTMENT, domain="market_regulation", role="department")
    assert decide(catalog.category("admin_penalty"), plain, LEGAL).rule == "default-deny"
    no_role = Recipient(RecipientKind.DEPARTMENT, domain="procurement")
    assert not decide(catalog.category("admin_penalty"), no_role, LEGAL).shared


def test_public_for_a_non_publishable_category_is_not_shared(catalog: Catalog) -> None:
    # A supplement may withhold publication (publishable = false) while the base's
    # public rule stays in the category: the check on publishability still refuses.
    commitment = catalog.category("credit_commitment")
    withheld = replace(commitment, publishable=False)
    plan = decide(withheld, Recipient(RecipientKind.PUBLIC), LEGAL)
    assert (plan.shared, plan.rule) == (False, "not-publishable")
    with pytest.raises(AccessDeniedError, match=r"credit_commitment is not shared with public"):
        require_shared(plan)
    # Without the public rule it is the default deny.
    private = replace(
        commitment,
        share_rules=tuple(
            r for r in commitment.share_rules if r.recipient is not RecipientKind.PUBLIC
        ),
    )
    assert decide(private, Recipient(RecipientKind.PUBLIC)).rule == "default-deny"


def test_field_without_a_grant_is_withheld(catalog: Catalog) -> None:
    # other_node grants public fields only: restricted and personal ones are withheld.
    plan = decide(catalog.category("admin_penalty"), Recipient(RecipientKind.OTHER_NODE), LEGAL)
    assert plan.visibility("CF_SJLY") is WITHHELD
    assert plan.visibility("FR_ZJHM") is WITHHELD
    assert plan.visibility("NOT_A_FIELD") is WITHHELD


def test_masked_grant_without_a_mask_rule_is_withheld(catalog: Catalog) -> None:

    penalty = catalog.category("admin_penalty")
    # CF_SJLY is restricted and has no mask rule: "masked" cannot be honoured.
    grant = ShareRule(
        recipient=RecipientKind.AUDITOR,
        by_sensitivity={Sensitivity.RESTRICTED: MASKED},
        rule_id="auditor-masked",
    )
    plan = decide(replace(penalty, share_rules=(grant,)), Recipient(RecipientKind.AUDITOR), LEGAL)
    assert plan.visibility("CF_SJLY") is WITHHELD
    assert plan.visibility("CF_NR_ZKDX") is MASKED  # restricted, mask "full"


def test_regression_department_without_domain_gets_nothing_from_a_wildcard(
    catalog: Catalog,
) -> None:
    # A department recipient without a domain matched a "*" rule: fail open.

    licence = catalog.category("admin_licence")
    wildcard = ShareRule(
        recipient=RecipientKind.DEPARTMENT,
        domains=frozenset({"*"}),
        roles=frozenset({"department"}),
        by_sensitivity={Sensitivity.PUBLIC: CLEAR},
        rule_id="licence-every-dept",
    )
    category = replace(licence, share_rules=(wildcard,))
    nameless = Recipient(RecipientKind.DEPARTMENT, domain=None, role="department")
    assert decide(category, nameless, LEGAL).rule == "default-deny"
    named = Recipient(RecipientKind.DEPARTMENT, domain="education", role="department")
    assert decide(category, named, LEGAL).rule == "licence-every-dept"


# -- subject type ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subject_type", "parent", "public", "other_node"),
    [
        (LEGAL, CLEAR, CLEAR, CLEAR),
        (NATURAL, MASKED, MASKED, WITHHELD),
        (None, MASKED, MASKED, WITHHELD),  # unknown subject: the strictest reading
    ],
)
def test_name_of_a_natural_person_is_personal(
    catalog: Catalog,
    subject_type: SubjectType | None,
    parent: Visibility,
    public: Visibility,
    other_node: Visibility,
) -> None:
    penalty = catalog.category("admin_penalty")
    got = [
        decide(penalty, Recipient(kind), subject_type).visibility("XDR_MC")
        for kind in (RecipientKind.PARENT, RecipientKind.PUBLIC, RecipientKind.OTHER_NODE)
    ]
    assert got == [parent, public, other_node]


def test_enterprise_only_name_does_not_depend_on_subject_type(catalog: Catalog) -> None:
    abnormal = catalog.category("abnormal_operation")
    for subject_type in (LEGAL, NATURAL, None):
        plan = decide(abnormal, Recipient(RecipientKind.PUBLIC), subject_type)
        assert plan.visibility("XDR_MC") is CLEAR


# -- node relations --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("me", "other", "relation"),
    [
        ("330500", "330000", RecipientKind.PARENT),
        ("330000", "000000", RecipientKind.PARENT),
        ("000000", "330000", RecipientKind.CHILD),
        ("330000", "330500", RecipientKind.CHILD),
        ("000000", "330500", RecipientKind.OTHER_NODE),  # grandchild: not a direct child
        ("330500", "000000", RecipientKind.OTHER_NODE),
        ("330500", "330100", RecipientKind.OTHER_NODE),  # sibling city
        ("330000", "320000", RecipientKind.OTHER_NODE),  # another province
        ("330500", "320500", RecipientKind.OTHER_NODE),  # a city of another province
        ("320000", "330500", RecipientKind.OTHER_NODE),
        ("330500", "330500", RecipientKind.OTHER_NODE),
    ],
)
def test_node_relation(me: str, other: str, relation: RecipientKind) -> None:
    assert node_relation(me, other) is relation


# -- ingress: over-sharing is refused ---------------------------------------------------


def _parent_plan(catalog: Catalog) -> SharePlan:
    return decide(
        catalog.category("admin_penalty"), Recipient(RecipientKind.PARENT, node_id="330000"), LEGAL
    )


def test_check_received_accepts_what_the_plan_allows(catalog: Catalog) -> None:
    check_received(_parent_plan(catalog), ["XDR_MC", "CF_SJLY", "FR_ZJHM#masked"])
    check_received(_parent_plan(catalog), [])


def test_check_received_refuses_a_clear_value_of_a_masked_field(catalog: Catalog) -> None:
    with pytest.raises(
        ScopeViolationError,
        match=r"received disclosure 'FR_ZJHM' of category admin_penalty, outside the scope "
        r"of parent\(330000\) \(rule penalty-parent\); 1 in excess",
    ):
        check_received(_parent_plan(catalog), ["XDR_MC", "FR_ZJHM", "FR_ZJHM#masked"])


def test_check_received_names_the_first_of_several_excess_disclosures(catalog: Catalog) -> None:
    plan = decide(catalog.category("admin_penalty"), Recipient(RecipientKind.OTHER_NODE), LEGAL)
    with pytest.raises(ScopeViolationError, match=r"received disclosure 'CF_SJLY' .* 2 in excess"):
        check_received(plan, ["XDR_MC", "FRDB#masked", "CF_SJLY"])


def test_check_received_refuses_an_unknown_disclosure(catalog: Catalog) -> None:
    with pytest.raises(ScopeViolationError, match=r"received disclosure 'RELIGION'"):
        check_received(_parent_plan(catalog), ["RELIGION"])


def test_regression_check_received_refuses_a_record_not_shared_at_all(catalog: Catalog) -> None:
    # An unshared record with every disclosure removed still tells the receiver
    # that it exists; it passed the check because no disclosure was in excess.
    plan = decide(catalog.category("credit_commitment"), Recipient(RecipientKind.OTHER_NODE))
    with pytest.raises(
        ScopeViolationError,
        match=r"received a record of category credit_commitment, which is not shared with "
        r"other_node \(rule default-deny\)",
    ):
        check_received(plan, [])


# -- explain ----------------------------------------------------------------------------


def test_explain_names_the_deciding_rule_per_field(catalog: Catalog) -> None:
    enforcement = Recipient(
        RecipientKind.DEPARTMENT, domain="market_regulation", role="enforcement"
    )
    explanation = explain(catalog.category("admin_penalty"), enforcement, NATURAL)
    by_code = {d.code: d for d in explanation.fields}
    assert by_code["XDR_ZJHM"].visibility is CLEAR
    assert by_code["XDR_ZJHM"].rule == "penalty-dept-enforcement"
    assert by_code["XDR_ZJHM"].reason == "personal -> clear"
    assert by_code["XDR_MC"].sensitivity is Sensitivity.PERSONAL
    assert by_code["XDR_MC"].label == "行政相对人名称"


def test_explain_withheld_field_names_the_rules_that_grant_nothing(catalog: Catalog) -> None:
    explanation = explain(catalog.category("admin_penalty"), Recipient(RecipientKind.PUBLIC))
    by_code = {d.code: d for d in explanation.fields}
    assert (by_code["CF_SJLY"].visibility, by_code["CF_SJLY"].rule) == (WITHHELD, "penalty-public")
    assert by_code["CF_SJLY"].reason == "restricted not granted"
    assert by_code["FR_ZJHM"].reason == "personal -> masked"


def test_explain_not_shared_gives_the_denying_rule_for_every_field(catalog: Catalog) -> None:
    explanation = explain(
        catalog.category("credit_commitment"), Recipient(RecipientKind.OTHER_NODE)
    )
    assert not explanation.plan.shared
    assert [d.code for d in explanation.fields] == list(
        catalog.category("credit_commitment").field_codes
    )
    assert {(d.visibility, d.rule, d.reason) for d in explanation.fields} == {
        (WITHHELD, "default-deny", "category not shared")
    }


def test_explain_combines_rules_that_grant_the_same(catalog: Catalog) -> None:

    penalty: Category = catalog.category("admin_penalty")
    extra = ShareRule(
        recipient=RecipientKind.AUDITOR,
        by_sensitivity={Sensitivity.PUBLIC: CLEAR},
        fields={"FR_ZJHM": CLEAR},
        rule_id="auditor-case-file",
    )
    category = replace(penalty, share_rules=(*penalty.share_rules, extra))
    by_code = {d.code: d for d in explain(category, Recipient(RecipientKind.AUDITOR), LEGAL).fields}
    assert by_code["XDR_MC"].rule == "auditor-case-file+penalty-auditor"
    assert by_code["FR_ZJHM"].rule == "auditor-case-file"
    assert by_code["FR_ZJHM"].reason == "field override"
    assert by_code["FRDB"].rule == "penalty-auditor"
