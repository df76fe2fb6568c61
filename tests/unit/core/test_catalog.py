"""The catalog: parsing, the checks of one category, and merging supplements."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest

from gateway.core.catalog import (
    LOCAL_DECISION,
    Catalog,
    CatalogDocument,
    CategoryKind,
    FieldSpec,
    FieldType,
    ObjectionSuspends,
    RecipientKind,
    Sensitivity,
    Severity,
    ShareRule,
    Visibility,
    load_catalog,
    merge_catalogs,
    parse_catalog,
)
from gateway.core.errors import CatalogError, RecordValidationError
from gateway.core.identifiers import SubjectType
from gateway.core.masking import MaskRule

DATA = Path(__file__).resolve().parents[3] / "gateway" / "data" / "catalog"

# --- a small catalog written as Python data, rendered to TOML ----------------------------


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(value)


def _key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else _value(key)


def render(document: dict[str, Any]) -> str:
    return "\n".join(f"{_key(k)} = {_value(v)}" for k, v in document.items()) + "\n"


def header(region: str = "000000", extends: str | None = None) -> dict[str, Any]:
    table: dict[str, Any] = {"version": "2025.1", "region": region, "title": "测试目录"}
    if extends is not None:
        table["extends"] = extends
    return table


def penalty() -> dict[str, Any]:
    """A small penalty-like category with every kind of rule."""
    return {
        "code": "pen",
        "label": "行政处罚",
        "kind": "record",
        "document_field": "CF_WSH",
        "decision_date_field": "CF_JDRQ",
        "publication_deadline_field": "CF_GSJZQ",
        "severity_field": "CF_YZCD",
        "default_severity": "general",
        "subject_fields": {"legal_person": "XDR_SHXYM", "natural_person": "XDR_ZJHM"},
        "periods_months": {"minor": 3, "general": 12, "serious": 36},
        "repair_min_months": {"minor": 0, "general": 3, "serious": 12},
        "publishable": True,
        "objection_suspends": "never",
        "objection_deadline_days": 15,
        "sd_size": 16,
        "field": [
            {
                "code": "XDR_MC",
                "label": "行政相对人名称",
                "type": "string",
                "required": True,
                "sensitivity": "public",
                "natural_person_sensitivity": "personal",
                "mask": "name",
            },
            {
                "code": "XDR_SHXYM",
                "label": "统一社会信用代码",
                "type": "uscc",
                "sensitivity": "public",
                "subject": "legal_person",
            },
            {
                "code": "XDR_ZJLX",
                "label": "证件类型",
                "type": "enum",
                "sensitivity": "restricted",
                "subject": "natural_person",
                "allowed": ["身份证", "护照号"],
            },
            {
                "code": "XDR_ZJHM",
                "label": "证件号码",
                "type": "id_number",
                "sensitivity": "personal",
                "mask": "identifier",
                "id_type_field": "XDR_ZJLX",
                "subject": "natural_person",
            },
            {
                "code": "CF_WSH",
                "label": "决定书文号",
                "type": "string",
                "required": True,
                "sensitivity": "public",
            },
            {
                "code": "CF_JDRQ",
                "label": "处罚决定日期",
                "type": "date",
                "required": True,
                "sensitivity": "public",
            },
            {"code": "CF_GSJZQ", "label": "公示截止期", "type": "date", "sensitivity": "public"},
            {
                "code": "CF_YZCD",
                "label": "失信严重程度",
                "type": "enum",
                "sensitivity": "public",
                "allowed": ["minor", "general", "serious"],
            },
            {"code": "CF_NR_FK", "label": "罚款金额", "type": "decimal", "sensitivity": "public"},
            {
                "code": "BZ",
                "label": "备注",
                "type": "text",
                "max_chars": 20,
                "sensitivity": "restricted",
                "mask": "full",
            },
        ],
        "share": [
            {
                "rule_id": "parent",
                "recipient": "parent",
                "by_sensitivity": {"public": "clear", "restricted": "clear", "personal": "masked"},
            },
            {
                "rule_id": "dept",
                "recipient": "department",
                "domains": ["procurement", "bidding"],
                "by_sensitivity": {"public": "clear", "restricted": "clear", "personal": "masked"},
                "fields": {"BZ": "masked"},
            },
            {
                "rule_id": "public",
                "recipient": "public",
                "by_sensitivity": {"public": "clear", "personal": "masked"},
            },
        ],
    }


def base_text(*categories: dict[str, Any]) -> str:
    return render({"catalog": header(), "category": list(categories or (penalty(),))})


def parse_base(*categories: dict[str, Any]) -> CatalogDocument:
    return parse_catalog(base_text(*categories), source="base.toml")


def field_of(category: dict[str, Any], code: str) -> dict[str, Any]:
    return next(f for f in category["field"] if f["code"] == code)


def rule_of(category: dict[str, Any], rule_id: str) -> dict[str, Any]:
    return next(r for r in category["share"] if r["rule_id"] == rule_id)


# --- the packaged national base -----------------------------------------------------------

NATIONAL_CATEGORIES = {
    "admin_licence": CategoryKind.RECORD,
    "admin_penalty": CategoryKind.RECORD,
    "serious_dishonesty": CategoryKind.BLACKLIST,
    "dishonest_debtor": CategoryKind.BLACKLIST,
    "abnormal_operation": CategoryKind.BLACKLIST,
    "tax_major_violation": CategoryKind.BLACKLIST,
    "procurement_dishonesty": CategoryKind.BLACKLIST,
    "work_safety_dishonesty": CategoryKind.BLACKLIST,
    "wage_arrears_dishonesty": CategoryKind.BLACKLIST,
    "statistics_dishonesty": CategoryKind.BLACKLIST,
    "honours": CategoryKind.REDLIST,
    "credit_commitment": CategoryKind.COMMITMENT,
}
SUBJECT_BLOCK = [
    "XDR_MC",
    "XDR_LB",
    "XDR_SHXYM",
    "XDR_GSZC",
    "XDR_ZZJG",
    "XDR_SWDJ",
    "XDR_SYDW",
    "XDR_SHZZ",
    "FRDB",
    "FR_ZJLX",
    "FR_ZJHM",
    "XDR_ZJLX",
    "XDR_ZJHM",
]
LICENCE_FIELDS = [
    "XK_XKWS",
    "XK_WSH",
    "XK_XKLB",
    "XK_XKZS",
    "XK_XKBH",
    "XK_NR",
    "XK_JDRQ",
    "XK_YXQZ",
    "XK_YXQZI",
    "XK_XKJG",
    "XK_XKJGDM",
    "XK_ZT",
    "XK_LYDW",
    "XK_LYDWDM",
    "BZ",
]
PENALTY_FIELDS = [
    "CF_WSH",
    "CF_WFXW",
    "CF_YJ",
    "CF_CFLB",
    "CF_NR",
    "CF_NR_FK",
    "CF_NR_WFFF",
    "CF_NR_ZKDX",
    "CF_JDRQ",
    "CF_YXQ",
    "CF_GSJZQ",
    "CF_CFJG",
    "CF_CFJGDM",
    "CF_SJLY",
    "CF_SJLYDM",
    "CF_YZCD",
    "BZ",
]


@pytest.fixture(scope="module")
def national() -> CatalogDocument:
    return parse_catalog((DATA / "000000.toml").read_text("utf-8"), source="000000.toml")


def test_national_base_has_every_category(national: CatalogDocument) -> None:
    assert national.version == "2025.1"
    assert national.extends is None
    assert {code: c.kind for code, c in national.categories.items()} == NATIONAL_CATEGORIES


def test_national_base_uses_the_shuang_gongshi_field_codes(national: CatalogDocument) -> None:
    licence = national.categories["admin_licence"]
    penalty_category = national.categories["admin_penalty"]
    assert licence.field_codes == (*SUBJECT_BLOCK, *LICENCE_FIELDS)
    assert penalty_category.field_codes == (*SUBJECT_BLOCK, *PENALTY_FIELDS)
    assert penalty_category.field("CF_NR_FK").type is FieldType.DECIMAL
    assert penalty_category.field("CF_JDRQ").required
    assert penalty_category.field("CF_WSH").required
    assert licence.field("XK_WSH").required
    assert licence.field("XK_XKJGDM").type is FieldType.USCC
    assert penalty_category.severity_field == "CF_YZCD"
    person_id = penalty_category.field("FR_ZJHM")
    assert (person_id.type, person_id.sensitivity, person_id.mask) == (
        FieldType.ID_NUMBER,
        Sensitivity.PERSONAL,
        MaskRule.IDENTIFIER,
    )
    assert person_id.id_type_field == "FR_ZJLX"
    assert penalty_category.field("XDR_ZJHM").subject is SubjectType.NATURAL_PERSON
    assert penalty_category.field("FRDB").mask is MaskRule.NAME


def test_national_base_rules(national: CatalogDocument) -> None:
    categories = national.categories
    assert categories["dishonest_debtor"].objection_suspends is ObjectionSuspends.NEVER
    assert categories["serious_dishonesty"].objection_suspends is ObjectionSuspends.ON_ACCEPTANCE
    assert categories["honours"].green_domains
    assert all(c.objection_deadline_days == 15 for c in categories.values())
    assert categories["admin_penalty"].periods_months == {
        Severity.MINOR: 3,
        Severity.GENERAL: 12,
        Severity.SERIOUS: 36,
    }
    # A check weighs penalties; a serious one asks the screening domains for review.
    assert [code for code, c in categories.items() if c.check_reference] == ["admin_penalty"]
    assert categories["admin_penalty"].review_domains == {
        Severity.SERIOUS: frozenset(
            {"procurement", "bidding", "licensing", "public_office", "finance", "honours"}
        )
    }
    for category in categories.values():
        assert category.sd_size >= category.disclosure_count
        if not category.publishable:
            assert all(r.recipient is not RecipientKind.PUBLIC for r in category.share_rules)


def test_the_national_base_publishes_credit_commitments(national: CatalogDocument) -> None:
    # 以规范格式向社会公示 (Zhumadian 2018); a supplement may withhold them.
    commitments = national.categories["credit_commitment"]
    assert commitments.publishable
    [public] = [r for r in commitments.share_rules if r.recipient is RecipientKind.PUBLIC]
    assert public.by_sensitivity[Sensitivity.PERSONAL] is Visibility.MASKED


def test_national_public_rules_never_show_personal_data(national: CatalogDocument) -> None:
    for category in national.categories.values():
        for rule in category.share_rules:
            if rule.recipient is not RecipientKind.PUBLIC:
                continue
            for spec in category.fields:
                for subject_type in SubjectType:
                    if spec.sensitivity_for(subject_type) is Sensitivity.PERSONAL:
                        assert rule.visibility(spec, subject_type) is not Visibility.CLEAR


# --- the model --------------------------------------------------------------------------


def test_orders() -> None:
    assert [s.rank for s in Sensitivity] == [0, 1, 2]
    assert [v.strictness for v in Visibility] == [0, 1, 2]
    assert Visibility.CLEAR.stricter(Visibility.WITHHELD) is Visibility.WITHHELD
    assert Visibility.MASKED.stricter(Visibility.CLEAR) is Visibility.MASKED


def _spec(**changes: Any) -> FieldSpec:
    values: dict[str, Any] = {
        "code": "XDR_MC",
        "label": "名称",
        "type": FieldType.STRING,
        "required": True,
        "sensitivity": Sensitivity.PUBLIC,
        "mask": MaskRule.NAME,
        "max_chars": 200,
        "natural_person_sensitivity": Sensitivity.PERSONAL,
    }
    values.update(changes)
    return FieldSpec(**values)


def test_a_name_is_personal_only_for_natural_persons() -> None:
    spec = _spec()
    assert spec.sensitivity_for(SubjectType.LEGAL_PERSON) is Sensitivity.PUBLIC
    assert spec.sensitivity_for(SubjectType.NATURAL_PERSON) is Sensitivity.PERSONAL
    # Subject unknown: the strictest reading.
    assert spec.sensitivity_for() is Sensitivity.PERSONAL


def test_share_rule_visibility() -> None:
    rule = ShareRule(
        recipient=RecipientKind.PUBLIC,
        by_sensitivity={
            Sensitivity.PUBLIC: Visibility.CLEAR,
            Sensitivity.PERSONAL: Visibility.MASKED,
        },
        fields={"OVERRIDDEN": Visibility.WITHHELD},
        rule_id="r",
    )
    assert rule.visibility(_spec(), SubjectType.LEGAL_PERSON) is Visibility.CLEAR
    assert rule.visibility(_spec(), SubjectType.NATURAL_PERSON) is Visibility.MASKED
    assert rule.visibility(_spec(code="OVERRIDDEN"), SubjectType.LEGAL_PERSON) is (
        Visibility.WITHHELD
    )
    restricted = _spec(sensitivity=Sensitivity.RESTRICTED, natural_person_sensitivity=None)
    assert rule.visibility(restricted) is Visibility.WITHHELD  # not in the table
    unmaskable = _spec(mask=None)
    assert rule.visibility(unmaskable, SubjectType.NATURAL_PERSON) is Visibility.WITHHELD


def test_unknown_field_and_category_name_what_is_missing() -> None:
    document = parse_base()
    category = document.categories["pen"]
    with pytest.raises(RecordValidationError, match="field CF_XXX is not in the catalog") as info:
        category.field("CF_XXX")
    assert info.value.field == "CF_XXX"
    catalog = merge_catalogs(document)
    with pytest.raises(RecordValidationError, match=r"category 'nope' is not in catalog 2025\.1"):
        catalog.category("nope")


def test_parsed_category_matches_its_text() -> None:
    category = parse_base().categories["pen"]
    assert category.subject_fields == {
        SubjectType.LEGAL_PERSON: "XDR_SHXYM",
        SubjectType.NATURAL_PERSON: "XDR_ZJHM",
    }
    dept = category.share_rules[1]
    assert dept.roles == frozenset({"department"})  # the default role
    assert dept.domains == frozenset({"procurement", "bidding"})
    assert dept.fields == {"BZ": Visibility.MASKED}
    assert category.field("BZ").max_chars == 20
    assert category.field("CF_WSH").max_chars == 200  # the default for strings


# --- one category: refusals ------------------------------------------------------------


def _broken(change: Any) -> dict[str, Any]:
    category = penalty()
    change(category)
    return category


REFUSALS: list[tuple[str, Any, str]] = [
    (
        "unknown category key",
        lambda c: c.update(colour="red"),
        r"category pen: unknown key 'colour'",
    ),
    (
        "unknown field key",
        lambda c: field_of(c, "BZ").update(secret=True),
        r"category pen, field BZ: unknown key 'secret'",
    ),
    (
        "unknown share key",
        lambda c: rule_of(c, "parent").update(everything=True),
        r"category pen, share rule parent: unknown key 'everything'",
    ),
    (
        "wrong type",
        lambda c: c.update(sd_size="16"),
        r"category pen: key 'sd_size' must be an integer, not a string",
    ),
    (
        "boolean is not an integer",
        lambda c: c.update(sd_size=True),
        r"category pen: key 'sd_size' must be an integer, not a boolean",
    ),
    (
        "wrong field type",
        lambda c: field_of(c, "BZ").update(required="yes"),
        r"category pen, field BZ: key 'required' must be a boolean, not a string",
    ),
    (
        "unknown enum value",
        lambda c: field_of(c, "BZ").update(sensitivity="secret"),
        r"category pen, field BZ: key 'sensitivity' is 'secret'; "
        r"expected one of public, restricted, personal",
    ),
    ("missing key", lambda c: c.pop("sd_size"), r"category pen: key 'sd_size' is missing"),
    (
        "duplicate field",
        lambda c: c["field"].append(dict(field_of(c, "BZ"))),
        r"category pen: field BZ is listed twice",
    ),
    (
        "duplicate rule",
        lambda c: c["share"].append(dict(rule_of(c, "parent"))),
        r"category pen: share rule parent is listed twice",
    ),
    (
        "sd_size too small",
        lambda c: c.update(sd_size=12),
        r"category pen: sd_size 12 is too small: 10 fields and 3 masked variants need 13",
    ),
    (
        "subject field not in category",
        lambda c: c["subject_fields"].update(legal_person="XDR_NONE"),
        r"category pen: subject field for legal_person XDR_NONE is not a field of the category",
    ),
    (
        "subject field of the wrong block",
        lambda c: c["subject_fields"].update(legal_person="XDR_ZJHM"),
        r"category pen: subject field XDR_ZJHM for legal_person must be a uscc field "
        r"of the legal_person block",
    ),
    (
        "share rule names unknown field",
        lambda c: rule_of(c, "parent").update(fields={"CF_NONE": "clear"}),
        r"category pen, share rule parent: override of field CF_NONE is not a field",
    ),
    (
        "masked override without mask",
        lambda c: rule_of(c, "parent").update(fields={"CF_WSH": "masked"}),
        r"category pen, share rule parent: field CF_WSH has no mask rule to send it masked",
    ),
    (
        "department without domains",
        lambda c: rule_of(c, "dept").pop("domains"),
        r"category pen, share rule dept: domains and roles are required for departments, "
        r"and only for them",
    ),
    (
        "domains on a node rule",
        lambda c: rule_of(c, "parent").update(domains=["finance"]),
        r"category pen, share rule parent: domains and roles are required for departments",
    ),
    (
        "public rule on an unpublishable category",
        lambda c: c.update(publishable=False),
        r"category pen, share rule public: the category is not publishable",
    ),
    (
        "personal data published in clear",
        lambda c: rule_of(c, "public")["by_sensitivity"].update(personal="clear"),
        r"category pen, share rule public: publishes personal field XDR_MC in clear",
    ),
    (
        "enum without values",
        lambda c: field_of(c, "CF_YZCD").pop("allowed"),
        r"category pen, field CF_YZCD: an enum field needs its allowed values",
    ),
    (
        "id number without its kind",
        lambda c: field_of(c, "XDR_ZJHM").pop("id_type_field"),
        r"category pen, field XDR_ZJHM: an id_number field needs id_type_field",
    ),
    (
        "mask on a public field",
        lambda c: field_of(c, "CF_WSH").update(mask="full"),
        r"category pen, field CF_WSH: a public field has nothing to mask",
    ),
    (
        "max_chars over the limit",
        lambda c: field_of(c, "BZ").update(max_chars=5000),
        r"category pen, field BZ: max_chars 5000 is outside 1 to 4000",
    ),
    (
        "severity value without period",
        lambda c: c["periods_months"].pop("minor"),
        r"category pen: severity value 'minor' of CF_YZCD has no period",
    ),
    (
        "document field not required",
        lambda c: field_of(c, "CF_WSH").update(required=False),
        r"category pen: document_field CF_WSH must be a required string field",
    ),
    (
        "measures on a record category",
        lambda c: c.update(measures=["M-PROC-01"]),
        r"category pen: measures are for black and red lists, not a record category",
    ),
    (
        "review domains of a category a check does not read",
        lambda c: c.update(review_domains={"serious": ["procurement"]}),
        r"category pen: review_domains needs check_reference = true",
    ),
    (
        "review domain no department may see",
        lambda c: c.update(check_reference=True, review_domains={"serious": ["travel"]}),
        r"category pen: review domain travel is granted no department share rule",
    ),
    (
        "review domain that is not a domain name",
        lambda c: c.update(check_reference=True, review_domains={"serious": ["Bid"]}),
        r"category pen: review domain 'Bid' is not a domain name",
    ),
    (
        "review of a severity without a period",
        lambda c: (
            c.update(check_reference=True, review_domains={"serious": ["procurement"]}),
            c["periods_months"].pop("serious"),
            c["repair_min_months"].pop("serious"),
            field_of(c, "CF_YZCD").update(allowed=["minor", "general"]),
        ),
        r"category pen: review_domains names severity serious, which has no period",
    ),
    (
        "objection deadline of zero",
        lambda c: c.update(objection_deadline_days=0),
        r"category pen: objection deadline of 0 days is outside 1 to 60 days",
    ),
]


@pytest.mark.parametrize(
    ("change", "message"), [r[1:] for r in REFUSALS], ids=[r[0] for r in REFUSALS]
)
def test_inconsistent_category_is_refused(change: Any, message: str) -> None:
    with pytest.raises(CatalogError, match=r"^base\.toml: " + message) as info:
        parse_base(_broken(change))
    assert info.value.source == "base.toml"
    assert info.value.entry is not None
    assert info.value.entry.startswith("category pen")


def listing() -> dict[str, Any]:
    """The penalty-like category as a black list, with everything a list needs."""
    category = penalty()
    category.update(
        kind="blacklist",
        basis="《测试名单管理办法》",
        filing_domains=["court"],
        period_basis="local_decision",
        measures=["M-PROC-01"],
    )
    return category


def test_a_list_names_its_basis_filers_measures_and_period_source() -> None:
    parsed = parse_base(listing()).categories["pen"]
    assert (parsed.basis, parsed.filing_domains, parsed.measures) == (
        "《测试名单管理办法》",
        frozenset({"court"}),
        ("M-PROC-01",),
    )
    assert parsed.period_basis == LOCAL_DECISION
    assert parsed.period_is_local_decision
    cited = listing()
    cited["period_basis"] = "《测试名单管理办法》第九条：列入期限三年"
    assert not parse_base(cited).categories["pen"].period_is_local_decision


LIST_GAPS = [
    ("basis", "a list needs its legal basis (basis)"),
    ("filing_domains", "a list needs the domains that file it (filing_domains; '*': any)"),
    ("measures", "a list needs the measures it carries"),
    (
        "period_basis",
        "a list needs the source of its period (period_basis: a citation, "
        "or 'local_decision' when it is a local decision)",
    ),
]


@pytest.mark.parametrize(("key", "message"), LIST_GAPS, ids=[g[0] for g in LIST_GAPS])
def test_a_list_without_basis_filers_measures_or_period_source_is_refused(
    key: str, message: str
) -> None:
    category = listing()
    del category[key]
    with pytest.raises(CatalogError, match=re.escape(f"base.toml: category pen: {message}")):
        parse_base(category)


def test_a_list_is_not_a_check_reference() -> None:
    # A check reads every list already; check_reference is for plain records.
    category = listing()
    category["check_reference"] = True
    with pytest.raises(
        CatalogError,
        match=re.escape(
            "base.toml: category pen: check_reference is for records and commitments: "
            "a check reads every list"
        ),
    ):
        parse_base(category)


@pytest.mark.parametrize(
    "code", ["XDR_ZJHM", "XDR_MC", "CF_WSH"], ids=["natural-person-block", "name", "public"]
)
def test_only_a_personal_id_of_the_legal_person_block_marks_a_person(code: str) -> None:
    category = listing()
    field_of(category, code)["person"] = "legal_representative"
    with pytest.raises(
        CatalogError,
        match=re.escape(
            f"category pen, field {code}: a person field must be a personal id_number of the "
            "legal_person block, with a mask (its masked variant is what other recipients get)"
        ),
    ):
        parse_base(category)


def test_any_filing_domain_stands_alone() -> None:
    category = listing()
    category["filing_domains"] = ["*", "court"]
    with pytest.raises(
        CatalogError, match=re.escape("category pen: filing domain '*' already names every domain")
    ):
        parse_base(category)
    category["filing_domains"] = ["*"]
    assert parse_base(category).categories["pen"].may_be_filed_by("tax")


PERIODS = [
    ("minor", 4, "the minor period of 4 months is outside the law (1 to 3 months"),
    ("general", 2, "the general period of 2 months is outside the law (3 to 12 months"),
    ("general", 13, "the general period of 13 months is outside the law (3 to 12 months"),
    ("serious", 11, "the serious period of 11 months is outside the law (12 to 36 months"),
    ("serious", 48, "the serious period of 48 months is outside the law (12 to 36 months"),
]


@pytest.mark.parametrize(("severity", "months", "message"), PERIODS)
def test_period_outside_the_law_is_refused(severity: str, months: int, message: str) -> None:
    category = penalty()
    category["periods_months"][severity] = months
    category["repair_min_months"][severity] = 0
    with pytest.raises(CatalogError, match=re.escape(f"base.toml: category pen: {message}")):
        parse_base(category)


def test_repair_before_the_legal_minimum_is_refused() -> None:
    category = penalty()
    category["repair_min_months"]["serious"] = 6
    with pytest.raises(
        CatalogError,
        match=r"the serious minimum before credit repair of 6 months is outside 12 to 36",
    ):
        parse_base(category)


def test_a_category_that_is_not_dishonesty_still_has_a_ceiling() -> None:
    category = penalty()
    category.pop("severity_field")
    field_of(category, "CF_YZCD")["allowed"] = ["general"]
    category["periods_months"] = {"general": 48}
    category["repair_min_months"] = {}
    with pytest.raises(CatalogError, match=r"the general period of 48 months is outside the law"):
        parse_base(category)
    category["periods_months"] = {"general": 36}  # not dishonesty: beyond 12 is lawful
    assert parse_base(category).categories["pen"].periods_months[Severity.GENERAL] == 36


# --- prohibited data ---------------------------------------------------------------------

PROHIBITED = [
    ("label 宗教信仰", {"code": "XDR_ZJXY", "label": "宗教信仰"}, "religion"),
    ("code RELIGION", {"code": "XDR_RELIGION", "label": "其他"}, "religion"),
    ("label 基因", {"code": "XDR_X1", "label": "基因检测结果"}, "genes"),
    ("kind genetic", {"code": "XDR_X2", "label": "样本", "kind": "genetic_data"}, "genes"),
    ("label 指纹", {"code": "XDR_X3", "label": "指纹"}, "fingerprints"),
    ("code fingerprint", {"code": "fingerprintHash", "label": "摘要"}, "fingerprints"),
    ("label 血型", {"code": "XDR_X4", "label": "血型"}, "blood type"),
    ("code BLOOD_TYPE", {"code": "XDR_BLOOD_TYPE", "label": "其他"}, "blood type"),
    ("label 病史", {"code": "XDR_X5", "label": "既往病史"}, "illness"),
    ("label 疾病", {"code": "XDR_X6", "label": "疾病情况"}, "illness"),
    (
        "kind medical history",
        {"code": "XDR_X7", "label": "其他", "kind": "medical history"},
        "illness",
    ),
    ("code disease", {"code": "CHRONIC_DISEASE", "label": "其他"}, "illness"),
]


@pytest.mark.parametrize(
    ("entry", "what"), [p[1:] for p in PROHIBITED], ids=[p[0] for p in PROHIBITED]
)
def test_prohibited_field_is_refused(entry: dict[str, Any], what: str) -> None:
    category = penalty()
    category["field"].append({"type": "string", "sensitivity": "personal", **entry})
    category["sd_size"] = 20
    with pytest.raises(
        CatalogError,
        match=rf"^base\.toml: category pen, field {entry['code']}: lists prohibited data: {what}",
    ) as info:
        parse_base(category)
    assert info.value.entry == f"category pen, field {entry['code']}"


@pytest.mark.parametrize(
    ("key", "value"),
    [("label", "宗教活动场所登记"), ("code", "blood_type_survey"), ("kind", "genetic")],
)
def test_prohibited_category_is_refused(key: str, value: str) -> None:
    category = penalty()
    category[key] = value
    code = category["code"]
    with pytest.raises(CatalogError, match=rf"^base\.toml: category {code}: lists prohibited data"):
        parse_base(category)


def test_similar_words_are_not_prohibited() -> None:
    category = penalty()
    category["field"] += [
        {"code": "XDR_GENERAL", "label": "无偿献血荣誉", "type": "string", "sensitivity": "public"},
        {"code": "CF_ZXZT", "label": "执行状态", "type": "string", "sensitivity": "public"},
    ]
    category["sd_size"] = 20
    assert parse_base(category).categories["pen"].has_field("XDR_GENERAL")


# --- the document ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("catalog = [", r"^base\.toml: not valid TOML: "),
        ('[catalog]\nversion = "1"\n', r"^base\.toml: catalog: key 'region' is missing"),
        (render({"catalog": header(), "extra": 1}), r"^base\.toml: unknown key 'extra'"),
        (
            render({"catalog": {**header(), "version": "1+2"}}),
            r"version '1\+2' must be letters, digits",
        ),
        (render({"catalog": header(region="33")}), r"region '33' is not a 6-digit region code"),
        (
            render({"catalog": header(extends="330000")}),
            r"only the national base \(000000\) extends nothing",
        ),
        (
            render({"catalog": header(), "category": [penalty(), penalty()]}),
            r"^base\.toml: category pen is defined twice",
        ),
        (
            '[catalog]\nversion = "1"\nversion = "2"\n',
            r"^base\.toml: not valid TOML: Cannot overwrite a value",
        ),
    ],
)
def test_malformed_document_is_refused(text: str, message: str) -> None:
    with pytest.raises(CatalogError, match=message):
        parse_catalog(text, source="base.toml")


# --- merging ----------------------------------------------------------------------------


def supplement(*amendments: dict[str, Any], categories: tuple[dict[str, Any], ...] = ()) -> str:
    document: dict[str, Any] = {"catalog": header("330000", "000000")}
    if categories:
        document["category"] = list(categories)
    document["amend"] = list(amendments)
    return render(document)


def merge(text: str, *, base: CatalogDocument | None = None) -> Catalog:
    return merge_catalogs(base or parse_base(), parse_catalog(text, source="330000.toml"))


def _rule(base_id: str, **changes: Any) -> dict[str, Any]:
    rule = copy.deepcopy(rule_of(penalty(), base_id))
    rule.update(changes)
    return rule


def _strict(**sensitivities: str) -> dict[str, str]:
    return {"public": "clear", "restricted": "clear", "personal": "masked", **sensitivities}


LOOSENINGS: list[tuple[str, dict[str, Any], str]] = [
    (
        "raise a visibility",
        {"share": [_rule("parent", by_sensitivity=_strict(personal="clear"))]},
        "raises the visibility of personal fields under share rule parent from masked to clear",
    ),
    (
        "raise a field's visibility by override",
        {"share": [_rule("dept", fields={"BZ": "clear"})]},
        "raises the visibility of field BZ under share rule dept from masked to clear",
    ),
    (
        "grant a recipient kind the base does not",
        {"share": [{"rule_id": "other", "recipient": "other_node", "by_sensitivity": _strict()}]},
        "adds share rule other for recipient other_node, which the category does not grant",
    ),
    (
        "add a rule beside a granted one",
        {"share": [_rule("parent", rule_id="parent-2", by_sensitivity={"public": "clear"})]},
        "adds share rule parent-2 for recipient parent, already granted by rule parent; "
        "tighten that rule by its rule_id instead",
    ),
    (
        "grant a department domain the base does not",
        {"share": [_rule("dept", domains=["procurement", "finance"])]},
        "widens share rule dept to domains finance, which the category does not grant",
    ),
    (
        "grant every domain",
        {"share": [_rule("dept", domains=["*"])]},
        r"widens share rule dept to domains \*",
    ),
    (
        "grant a role the base does not",
        {"share": [_rule("dept", roles=["department", "enforcement"])]},
        "widens share rule dept to roles enforcement",
    ),
    (
        "change a rule's recipient",
        {"share": [_rule("parent", recipient="child")]},
        "changes the recipient of share rule parent from parent to child",
    ),
    (
        "lengthen a period",
        {"periods_months": {"general": 13}},
        "lengthens the general period from 12 to 13 months",
    ),
    (
        "lengthen the wait for repair",
        {"repair_min_months": {"serious": 24}},
        "lengthens the serious minimum before credit repair from 12 to 24 months",
    ),
    (
        "lengthen the objection deadline",
        {"objection_deadline_days": 30},
        "lengthens the objection deadline from 15 to 30 days",
    ),
    (
        "lower a field's sensitivity",
        {"change_field": [{"code": "BZ", "sensitivity": "public"}]},
        "lowers the sensitivity of field BZ from restricted to public",
    ),
    (
        "raise a field's length",
        {"change_field": [{"code": "BZ", "max_chars": 21}]},
        "raises max_chars of field BZ from 20 to 21",
    ),
    (
        "change a mask rule",
        {"change_field": [{"code": "BZ", "mask": "name"}]},
        "changes the mask rule of field BZ from full to name",
    ),
    ("remove a required field", {"remove_fields": ["CF_WSH"]}, "removes required field CF_WSH"),
    (
        "add a required field",
        {
            "add_field": [
                {
                    "code": "ZJ_X",
                    "label": "新",
                    "type": "string",
                    "required": True,
                    "sensitivity": "public",
                }
            ]
        },
        "adds required field ZJ_X; a supplement may only add optional fields",
    ),
    (
        "add a field twice",
        {
            "add_field": [
                {"code": "BZ", "label": "备注", "type": "text", "sensitivity": "restricted"}
            ]
        },
        "adds field BZ, which the category already lists",
    ),
    ("shrink sd_size", {"sd_size": 14}, "shrinks sd_size from 16 to 14"),
]


@pytest.mark.parametrize(
    ("amendment", "message"), [x[1:] for x in LOOSENINGS], ids=[x[0] for x in LOOSENINGS]
)
def test_loosening_supplement_is_refused(amendment: dict[str, Any], message: str) -> None:
    with pytest.raises(CatalogError, match=r"^330000\.toml: amend pen: " + message) as info:
        merge(supplement({"category": "pen", **amendment}))
    assert info.value.source == "330000.toml"
    assert info.value.entry is not None
    assert info.value.entry.startswith("amend pen")


@pytest.mark.parametrize(
    ("amendment", "message"),
    [
        ({"periods_months": {"general": 2}}, "the general period of 2 months is outside the law"),
        (
            {"remove_fields": ["CF_GSJZQ"]},
            "publication_deadline_field CF_GSJZQ is not a field of the category",
        ),
        (
            {
                "add_field": [
                    {
                        "code": "XDR_XX",
                        "label": "宗教信仰",
                        "type": "string",
                        "sensitivity": "personal",
                    }
                ]
            },
            "lists prohibited data: religion",
        ),
    ],
)
def test_amended_category_must_still_be_lawful(amendment: dict[str, Any], message: str) -> None:
    with pytest.raises(
        CatalogError, match=r"^330000\.toml: (amend|category) pen(, field XDR_XX)?: " + message
    ):
        merge(supplement({"category": "pen", **amendment}))


def test_making_a_category_publishable_is_refused() -> None:
    private = penalty()
    private["publishable"] = False
    private["share"] = [r for r in private["share"] if r["recipient"] != "public"]
    with pytest.raises(
        CatalogError,
        match=r"^330000\.toml: amend pen: makes the category publishable",
    ):
        merge(supplement({"category": "pen", "publishable": True}), base=parse_base(private))


@pytest.mark.parametrize(
    ("base_rule", "amended"),
    [("on_acceptance", "never"), ("on_filing", "on_acceptance"), ("on_filing", "never")],
)
def test_making_objections_suspend_measures_later_is_refused(base_rule: str, amended: str) -> None:
    suspending = penalty()
    suspending["objection_suspends"] = base_rule
    with pytest.raises(
        CatalogError,
        match=(
            rf"^330000\.toml: amend pen: makes objections suspend measures later \({amended}\) "
            rf"than the category does \({base_rule}\)$"
        ),
    ):
        merge(
            supplement({"category": "pen", "objection_suspends": amended}),
            base=parse_base(suspending),
        )


@pytest.mark.parametrize(
    ("base_rule", "amended"),
    [
        ("never", "on_acceptance"),
        ("never", "on_filing"),
        ("on_acceptance", "on_filing"),
        ("on_filing", "on_filing"),
    ],
)
def test_a_supplement_may_make_objections_suspend_measures_earlier(
    base_rule: str, amended: str
) -> None:
    rule = penalty()
    rule["objection_suspends"] = base_rule
    catalog = merge(
        supplement({"category": "pen", "objection_suspends": amended}), base=parse_base(rule)
    )
    assert catalog.category("pen").objection_suspends is ObjectionSuspends(amended)


def test_an_unknown_objection_rule_is_refused_at_load() -> None:
    rule = penalty()
    rule["objection_suspends"] = True
    with pytest.raises(CatalogError, match=r"^base\.toml: category pen: key 'objection_suspends'"):
        parse_base(rule)
    rule["objection_suspends"] = "on_appeal"
    with pytest.raises(
        CatalogError,
        match=(
            r"^base\.toml: category pen: key 'objection_suspends' is 'on_appeal'; "
            r"expected one of never, on_acceptance, on_filing$"
        ),
    ):
        parse_base(rule)
    del rule["objection_suspends"]
    with pytest.raises(CatalogError, match=r"^base\.toml: category pen: .*objection_suspends"):
        parse_base(rule)


def test_redefining_or_amending_unknown_category_is_refused() -> None:
    with pytest.raises(
        CatalogError,
        match=r"^330000\.toml: category pen: already defined by base\.toml; a supplement may amend",
    ):
        merge(render({"catalog": header("330000", "000000"), "category": [penalty()]}))
    with pytest.raises(
        CatalogError,
        match=r"^330000\.toml: amend nope: amends a category that no earlier catalog defines",
    ):
        merge(supplement({"category": "nope"}))


def test_chain_of_supplements_must_be_consistent() -> None:
    city = parse_catalog(render({"catalog": header("330500", "330000")}), source="330500.toml")
    with pytest.raises(
        CatalogError,
        match=r"^330500\.toml: catalog: extends 330000, but the catalog it would amend is 000000's",
    ):
        merge_catalogs(parse_base(), city)


def test_tightening_supplement_is_accepted() -> None:
    optional = {"code": "ZJ_SXBM", "label": "事项编码", "type": "string", "sensitivity": "public"}
    catalog = merge(
        supplement(
            {
                "category": "pen",
                "share": [
                    _rule("parent", by_sensitivity=_strict(personal="withheld")),
                    _rule("dept", domains=["bidding"], fields={"BZ": "withheld"}),
                ],
                "periods_months": {"general": 6, "serious": 24},
                "repair_min_months": {"serious": 12},
                "objection_suspends": "on_acceptance",
                "objection_deadline_days": 10,
                "change_field": [{"code": "BZ", "sensitivity": "personal", "max_chars": 10}],
                "add_field": [optional],
                "remove_fields": ["CF_NR_FK"],
                "publishable": False,
                "sd_size": 24,
            }
        )
    )
    category = catalog.category("pen")
    assert catalog.version == "2025.1+330000.2025.1"
    assert catalog.sources == ("base.toml", "330000.toml")
    rules = {rule.rule_id: rule for rule in category.share_rules}
    assert set(rules) == {"parent", "dept"}  # not publishable: the public rule is gone
    assert rules["parent"].by_sensitivity[Sensitivity.PERSONAL] is Visibility.WITHHELD
    assert rules["dept"].domains == frozenset({"bidding"})
    assert category.periods_months == {Severity.MINOR: 3, Severity.GENERAL: 6, Severity.SERIOUS: 24}
    assert category.objection_suspends is ObjectionSuspends.ON_ACCEPTANCE
    assert category.objection_deadline_days == 10
    assert category.field("BZ").sensitivity is Sensitivity.PERSONAL
    assert category.field("BZ").max_chars == 10
    assert category.field_codes[-1] == "ZJ_SXBM"
    assert not category.has_field("CF_NR_FK")
    assert category.sd_size == 24
    assert not category.publishable


def test_supplement_adds_a_category_and_a_city_amends_it() -> None:
    provincial = penalty()
    provincial["code"] = "zj_pen"
    province = parse_catalog(supplement(categories=(provincial,)), source="330000.toml")
    city_text = render(
        {
            "catalog": header("330500", "330000"),
            "amend": [{"category": "zj_pen", "periods_months": {"serious": 12}}],
        }
    )
    city = parse_catalog(city_text, source="330500.toml")
    catalog = merge_catalogs(parse_base(), province, city)
    assert catalog.version == "2025.1+330000.2025.1+330500.2025.1"
    assert catalog.category("zj_pen").periods_months[Severity.SERIOUS] == 12
    assert catalog.category("pen").periods_months[Severity.SERIOUS] == 36


def test_load_catalog_needs_the_base() -> None:
    with pytest.raises(CatalogError, match=r"no catalog files given"):
        load_catalog([])
    with pytest.raises(CatalogError, match=r"^s\.toml: catalog: extends 000000, but"):
        load_catalog([("b.toml", base_text()), ("s.toml", supplement()), ("s.toml", supplement())])


def test_huzhou_supplement_suspends_every_black_list_on_filing_debtors_included() -> None:
    def load(*regions: str) -> Catalog:
        return load_catalog(
            [(f"{r}.toml", (DATA / f"{r}.toml").read_text("utf-8")) for r in regions]
        )

    zhejiang = load("000000", "330000")
    huzhou = load("000000", "330000", "330500")
    blacklists = sorted(
        code for code, c in huzhou.categories.items() if c.kind is CategoryKind.BLACKLIST
    )
    assert "dishonest_debtor" in blacklists
    assert {code: huzhou.category(code).objection_suspends for code in blacklists} == dict.fromkeys(
        blacklists, ObjectionSuspends.ON_FILING
    )
    assert zhejiang.category("dishonest_debtor").objection_suspends is ObjectionSuspends.NEVER
    assert (
        zhejiang.category("serious_dishonesty").objection_suspends
        is ObjectionSuspends.ON_ACCEPTANCE
    )
