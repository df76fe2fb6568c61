"""The packaged catalog and measures files, loaded for a node by its region code."""

from __future__ import annotations

import pytest

from gateway.core.catalog import RecipientKind, Sensitivity, Severity, Visibility
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
        "serious_dishonesty": [],
        "dishonest_debtor": ["court"],
        "abnormal_operation": ["market_regulation"],
        "honours": [],
        "credit_commitment": [],
        "zj_environment_credit": [],
    }
