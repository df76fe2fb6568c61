"""The packaged catalog and measures files, loaded for a node by its region code."""

from __future__ import annotations

import pytest

from gateway.core.catalog import LOCAL_DECISION, RecipientKind, Sensitivity, Severity, Visibility
from gateway.core.errors import ConfigurationError
from gateway.node.catalog_files import load_packaged_catalog, load_packaged_measures, region_chain

NATIONAL_CATEGORIES = {
    "admin_licence",
    "admin_penalty",
    "serious_dishonesty",
    "dishonest_debtor",
    "abnormal_operation",
    "honours",
    "credit_commitment",
}


def test_region_chain() -> None:
    assert region_chain("000000") == ("000000",)
    assert region_chain("330000") == ("000000", "330000")
    assert region_chain("330500") == ("000000", "330000", "330500")
    assert region_chain("330521") == ("000000", "330000", "330500", "330521")


@pytest.mark.parametrize("node_id", ["33050", "3305000", "33O500", ""])
def test_bad_node_id_is_a_configuration_error(node_id: str) -> None:
    with pytest.raises(ConfigurationError, match=rf"node id {node_id!r} is not a 6-digit region"):
        load_packaged_catalog(node_id)


@pytest.mark.parametrize(
    ("node_id", "version", "sources"),
    [
        ("000000", "2025.1", ("catalog/000000.toml",)),
        ("110000", "2025.1", ("catalog/000000.toml",)),
        ("330000", "2025.1+330000.2025.1", ("catalog/000000.toml", "catalog/330000.toml")),
        (
            "330500",
            "2025.1+330000.2025.1+330500.2025.1",
            ("catalog/000000.toml", "catalog/330000.toml", "catalog/330500.toml"),
        ),
        (
            "330521",
            "2025.1+330000.2025.1+330500.2025.1",
            ("catalog/000000.toml", "catalog/330000.toml", "catalog/330500.toml"),
        ),
        ("330100", "2025.1+330000.2025.1", ("catalog/000000.toml", "catalog/330000.toml")),
    ],
)
def test_node_gets_base_and_its_supplements(
    node_id: str, version: str, sources: tuple[str, ...]
) -> None:
    catalog = load_packaged_catalog(node_id)
    assert catalog.version == version
    assert catalog.sources == sources
    assert set(catalog.categories) >= NATIONAL_CATEGORIES
    in_zhejiang = node_id.startswith("33")
    assert ("zj_environment_credit" in catalog.categories) is in_zhejiang


def test_zhejiang_tightens_screening_departments() -> None:
    def screening(node_id: str) -> Visibility:
        category = load_packaged_catalog(node_id).category("admin_penalty")
        rule = next(r for r in category.share_rules if r.rule_id == "penalty-dept-screening")
        return rule.by_sensitivity[Sensitivity.PERSONAL]

    assert screening("000000") is Visibility.MASKED
    assert screening("330000") is Visibility.WITHHELD
    assert screening("330500") is Visibility.WITHHELD


def test_huzhou_shortens_general_penalties_and_adds_a_licence_field() -> None:
    huzhou = load_packaged_catalog("330500")
    hangzhou = load_packaged_catalog("330100")
    assert huzhou.category("admin_penalty").periods_months[Severity.GENERAL] == 6
    assert hangzhou.category("admin_penalty").periods_months[Severity.GENERAL] == 12
    assert huzhou.category("admin_licence").has_field("HZ_SXBM")
    assert not hangzhou.category("admin_licence").has_field("HZ_SXBM")
    assert not huzhou.category("admin_licence").field("HZ_SXBM").required


def test_every_packaged_category_is_audited_and_published_only_if_publishable() -> None:
    catalog = load_packaged_catalog("330500")
    for category in catalog.categories.values():
        kinds = {rule.recipient for rule in category.share_rules}
        assert (RecipientKind.PUBLIC in kinds) == category.publishable
        assert RecipientKind.AUDITOR in kinds


def test_packaged_measures() -> None:
    measures = load_packaged_measures("330500")
    assert measures.version == "2025.1"
    assert measures.sources == ("measures/000000.toml",)
    assert "M-PROC-01" in measures.measures
    with pytest.raises(ConfigurationError, match=r"node id 'x' is not a 6-digit region code"):
        load_packaged_measures("x")


def test_the_national_catalog_names_who_files_each_list() -> None:
    catalog = load_packaged_catalog("330500")
    filers = {code: sorted(c.filing_domains) for code, c in catalog.categories.items()}
    assert filers == {
        "admin_licence": [],
        "admin_penalty": [],
        "serious_dishonesty": ["*"],
        "dishonest_debtor": ["court"],
        "abnormal_operation": ["market_regulation"],
        "tax_major_violation": ["tax"],
        "procurement_dishonesty": ["procurement"],
        "work_safety_dishonesty": ["emergency_management"],
        "wage_arrears_dishonesty": ["human_resources"],
        "statistics_dishonesty": ["statistics"],
        "honours": ["*"],
        "credit_commitment": [],
        "zj_environment_credit": [],
    }


def test_every_list_rests_on_law_with_its_filers_measures_and_period_source() -> None:
    catalog = load_packaged_catalog("330500")
    measures = load_packaged_measures("330500")
    lists = {code: c for code, c in catalog.categories.items() if c.kind.is_list}
    assert set(lists) == {
        "serious_dishonesty",
        "dishonest_debtor",
        "abnormal_operation",
        "tax_major_violation",
        "procurement_dishonesty",
        "work_safety_dishonesty",
        "wage_arrears_dishonesty",
        "statistics_dishonesty",
        "honours",
    }
    for code, category in lists.items():
        assert category.basis.startswith("《"), code
        assert category.filing_domains, code
        assert category.measures, code
        assert all(m in measures.measures for m in category.measures), code
        assert category.periods_months[category.default_severity] > 0, code
        assert category.period_basis, code
    local = {code for code, c in lists.items() if c.period_is_local_decision}
    assert local == {
        "abnormal_operation",
        "work_safety_dishonesty",
        "wage_arrears_dishonesty",
        "statistics_dishonesty",
        "honours",
    }
    assert all(c.period_basis == LOCAL_DECISION for c in lists.values() if c.code in local)
    assert "第七十七条" in lists["procurement_dishonesty"].basis
    assert "第四十八条" in lists["wage_arrears_dishonesty"].basis
    assert "国家税务总局令第54号" in lists["tax_major_violation"].basis
    assert "应急管理部令第11号" in lists["work_safety_dishonesty"].basis
    assert "国统字〔2022〕33号" in lists["statistics_dishonesty"].basis


def test_the_measures_the_seeds_name_are_listed_with_who_they_fall_on() -> None:
    measures = load_packaged_measures("000000").measures
    named = {
        "M-EXIT-01": ("限制出境", {"exit_control"}, True),
        "M-REAL-01": ("限制购买不动产或者新建、扩建、高档装修房屋", {"real_estate"}, True),
        "M-LAND-01": (
            "限制新增项目审批、核准，限制参与用地和矿业权审批",
            {"land_resources"},
            False,
        ),
        "M-MKT-02": ("实施市场和行业禁入", {"licensing", "market_regulation"}, True),
        "M-QUAL-01": (
            "取消评审、监审等专家资格，暂缓办理职业（执业）资格审核和个人登记",
            {"qualification"},
            True,
        ),
        "M-INC-05": ("评标、评审中给予信用加分", {"procurement", "bidding"}, False),
    }
    for code, (label, domains, on_persons) in named.items():
        measure = measures[code]
        assert (measure.label, set(measure.domains), measure.on_persons) == (
            label,
            domains,
            on_persons,
        ), code
    assert "容缺受理" in measures["M-INC-01"].label
    persons = {code for code, m in measures.items() if m.on_persons}
    assert persons == {
        "M-OFFICE-02",
        "M-CONS-01",
        "M-TRAV-01",
        "M-EXIT-01",
        "M-REAL-01",
        "M-MKT-02",
        "M-QUAL-01",
    }
