"""The measures list: parsing, add-only supplements, and its fit with the catalog."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import MappingProxyType

import pytest

from gateway.core.catalog import Catalog, Visibility, load_catalog
from gateway.core.errors import CatalogError, NotFoundError
from gateway.core.measures import (
    MeasureEffect,
    MeasureKind,
    MeasuresList,
    check_catalog_measures,
    load_measures,
    merge_measures,
    parse_measures,
)

DATA = Path(__file__).resolve().parents[3] / "gateway" / "data"
NATIONAL_TEXT = (DATA / "measures" / "000000.toml").read_text("utf-8")

MEASURE = """
[[measure]]
code = "{code}"
label = "限制参加政府采购活动"
kind = "{kind}"
effect = "{effect}"
domains = ["procurement"]
basis = "《中华人民共和国政府采购法》第二十二条"
"""


def document(*measures: str, region: str = "330000", extends: str | None = "000000") -> str:
    head = f'[measures]\nversion = "2025.1"\nregion = "{region}"\ntitle = "补充清单"\n'
    if extends is not None:
        head += f'extends = "{extends}"\n'
    return head + "".join(measures)


@pytest.fixture(scope="module")
def national() -> MeasuresList:
    return load_measures([("000000.toml", NATIONAL_TEXT)])


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog([("000000.toml", (DATA / "catalog" / "000000.toml").read_text("utf-8"))])


def test_national_list(national: MeasuresList) -> None:
    assert national.version == "2025.1"
    assert len(national.measures) == 24
    procurement = national.measure("M-PROC-01")
    assert procurement.kind is MeasureKind.RESTRICTION
    assert procurement.domains == frozenset({"procurement"})
    assert "政府采购法" in procurement.basis
    kinds = {m.kind for m in national.measures.values()}
    assert kinds == {MeasureKind.RESTRICTION, MeasureKind.INCENTIVE}


def test_national_effects_are_proportionate(national: MeasuresList) -> None:
    # Only measures that bar the subject prohibit; 审慎 and 重点监管 ask for care.
    effects = {code: m.effect for code, m in national.measures.items()}
    assert effects == {
        "M-PROC-01": MeasureEffect.PROHIBIT,
        "M-BID-01": MeasureEffect.PROHIBIT,
        "M-PROC-02": MeasureEffect.REVIEW,
        "M-BID-02": MeasureEffect.REVIEW,
        "M-HON-02": MeasureEffect.REVIEW,
        "M-LIC-01": MeasureEffect.RESTRICT,
        "M-OFFICE-01": MeasureEffect.PROHIBIT,
        "M-OFFICE-02": MeasureEffect.PROHIBIT,
        "M-FIN-01": MeasureEffect.PROHIBIT,
        "M-FIN-02": MeasureEffect.RESTRICT,
        "M-HON-01": MeasureEffect.PROHIBIT,
        "M-CONS-01": MeasureEffect.PROHIBIT,
        "M-TRAV-01": MeasureEffect.PROHIBIT,
        "M-MKT-01": MeasureEffect.REVIEW,
        "M-EXIT-01": MeasureEffect.PROHIBIT,
        "M-REAL-01": MeasureEffect.PROHIBIT,
        "M-LAND-01": MeasureEffect.RESTRICT,
        "M-MKT-02": MeasureEffect.PROHIBIT,
        "M-QUAL-01": MeasureEffect.PROHIBIT,
        "M-INC-01": MeasureEffect.INCENTIVE,
        "M-INC-02": MeasureEffect.INCENTIVE,
        "M-INC-03": MeasureEffect.INCENTIVE,
        "M-INC-04": MeasureEffect.INCENTIVE,
        "M-INC-05": MeasureEffect.INCENTIVE,
    }
    assert all(m.effect.kind is m.kind for m in national.measures.values())


def test_unknown_measure_is_not_found(national: MeasuresList) -> None:
    with pytest.raises(NotFoundError, match=r"measure 'M-NONE-01' is not in measures list 2025\.1"):
        national.measure("M-NONE-01")


def test_measures_for_a_category_and_domain(national: MeasuresList, catalog: Catalog) -> None:
    debtor = catalog.category("dishonest_debtor")
    assert [m.code for m in national.for_category(debtor, "travel")] == ["M-TRAV-01"]
    assert [m.code for m in national.for_category(debtor, "finance")] == ["M-FIN-02"]
    assert national.for_category(debtor, "public_service") == ()
    honours = catalog.category("honours")
    assert [m.code for m in national.for_category(honours, "licensing")] == ["M-INC-01"]


def test_packaged_catalog_fits_the_packaged_list(national: MeasuresList, catalog: Catalog) -> None:
    check_catalog_measures(catalog, national)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            document(MEASURE.format(code="M-proc-1", kind="restriction", effect="prohibit")),
            r"^m\.toml: measure M-proc-1: measure code 'M-proc-1' is not of the form M-XXX-00",
        ),
        (
            document(MEASURE.format(code="M-NEW-01", kind="reward", effect="prohibit")),
            r"^m\.toml: measure M-NEW-01: key 'kind' is 'reward'; expected one of restriction, "
            r"incentive",
        ),
        (
            document(MEASURE.format(code="M-NEW-01", kind="restriction", effect="ban")),
            r"^m\.toml: measure M-NEW-01: key 'effect' is 'ban'; expected one of prohibit, "
            r"restrict, review, incentive",
        ),
        (
            document(MEASURE.format(code="M-NEW-01", kind="restriction", effect="incentive")),
            r"^m\.toml: measure M-NEW-01: effect incentive does not fit a measure of kind "
            r"restriction",
        ),
        (
            document(MEASURE.format(code="M-NEW-01", kind="incentive", effect="review")),
            r"^m\.toml: measure M-NEW-01: effect review does not fit a measure of kind incentive",
        ),
        (
            document(
                MEASURE.format(code="M-NEW-01", kind="restriction", effect="x").replace(
                    'effect = "x"\n', ""
                )
            ),
            r"^m\.toml: measure M-NEW-01: key 'effect' is missing",
        ),
        (
            document(
                MEASURE.format(code="M-NEW-01", kind="restriction", effect="prohibit")
                + 'extra = "x"\n'
            ),
            r"^m\.toml: measure M-NEW-01: unknown key 'extra'",
        ),
        (
            document(
                MEASURE.format(code="M-NEW-01", kind="restriction", effect="prohibit").replace(
                    '["procurement"]', "[]"
                )
            ),
            r"^m\.toml: measure M-NEW-01: a measure needs the domains that apply it",
        ),
        (
            document(
                MEASURE.format(code="M-NEW-01", kind="restriction", effect="prohibit").replace(
                    '"procurement"', '"Procurement"'
                )
            ),
            r"^m\.toml: measure M-NEW-01: domain 'Procurement' is not a domain name",
        ),
        (
            document(*[MEASURE.format(code="M-NEW-01", kind="restriction", effect="prohibit")] * 2),
            r"^m\.toml: measure M-NEW-01 is defined twice",
        ),
        (document(region="000000"), r"^m\.toml: measures: only the national base"),
        ('[measures]\nversion = "2025.1"\n', r"^m\.toml: measures: key 'region' is missing"),
        ("[catalog]\n", r"^m\.toml: the \[measures\] table is missing"),
    ],
)
def test_malformed_measures_are_refused(text: str, message: str) -> None:
    with pytest.raises(CatalogError, match=message):
        parse_measures(text, source="m.toml")


def test_supplement_may_add_a_measure() -> None:
    base = parse_measures(NATIONAL_TEXT, source="000000.toml")
    province = parse_measures(
        document(MEASURE.format(code="M-ZJ-01", kind="restriction", effect="review")),
        source="330000.toml",
    )
    merged = merge_measures(base, province)
    assert merged.version == "2025.1+330000.2025.1"
    assert merged.sources == ("000000.toml", "330000.toml")
    assert merged.measure("M-ZJ-01").kind is MeasureKind.RESTRICTION
    assert merged.measure("M-ZJ-01").effect is MeasureEffect.REVIEW
    assert len(merged.measures) == 25


def test_supplement_may_not_redefine_a_measure() -> None:
    base = parse_measures(NATIONAL_TEXT, source="000000.toml")
    # Redefining M-PROC-01 as an incentive would turn a restriction into a favour.
    loosened = parse_measures(
        document(MEASURE.format(code="M-PROC-01", kind="incentive", effect="incentive")),
        source="330000.toml",
    )
    with pytest.raises(
        CatalogError,
        match=r"^330000\.toml: measure M-PROC-01: already defined by 000000\.toml; a supplement "
        r"may add measures, not redefine or remove them",
    ):
        merge_measures(base, loosened)


def test_supplement_chain_must_be_consistent() -> None:
    base = parse_measures(NATIONAL_TEXT, source="000000.toml")
    city = parse_measures(document(region="330500", extends="330000"), source="330500.toml")
    with pytest.raises(
        CatalogError, match=r"^330500\.toml: measures: extends 330000, but the list it would amend"
    ):
        merge_measures(base, city)
    with pytest.raises(CatalogError, match=r"no measures files given"):
        load_measures([])


def _with_category(catalog: Catalog, code: str, **changes: object) -> Catalog:
    category = dataclasses.replace(catalog.category(code), **changes)  # type: ignore[arg-type]
    return Catalog(
        catalog.version, catalog.sources, MappingProxyType({**catalog.categories, code: category})
    )


@pytest.mark.parametrize(
    ("code", "changes", "message"),
    [
        (
            "serious_dishonesty",
            {"measures": ("M-NONE-01",)},
            r"category serious_dishonesty: measure M-NONE-01 is not in measures list 2025\.1",
        ),
        (
            "serious_dishonesty",
            {"measures": ("M-INC-01",)},
            r"category serious_dishonesty: measure M-INC-01 is of kind incentive, "
            r"which a blacklist cannot carry",
        ),
        (
            "honours",
            {"measures": ("M-PROC-01",)},
            r"category honours: measure M-PROC-01 is of kind restriction, which a redlist cannot "
            r"carry",
        ),
        (
            "abnormal_operation",
            {"measures": ("M-CONS-01",)},
            r"category abnormal_operation: measure M-CONS-01 applies in domain high_consumption, "
            r"but no share rule grants departments there",
        ),
        (
            "honours",
            {"green_domains": frozenset({"licensing", "travel"})},
            r"category honours: green domain travel has no incentive measure of the category",
        ),
    ],
)
def test_catalog_and_measures_must_fit(
    national: MeasuresList, catalog: Catalog, code: str, changes: dict[str, object], message: str
) -> None:
    with pytest.raises(CatalogError, match=r"^000000\.toml: " + message):
        check_catalog_measures(_with_category(catalog, code, **changes), national)


def test_only_a_restriction_falls_on_persons() -> None:
    text = document(
        MEASURE.format(code="M-ZJ-01", kind="incentive", effect="incentive") + "persons = true\n"
    )
    with pytest.raises(
        CatalogError,
        match=r"measure M-ZJ-01: only a restriction falls on the persons of a listed organisation",
    ):
        parse_measures(text, source="330000.toml")
    restriction = document(
        MEASURE.format(code="M-ZJ-01", kind="restriction", effect="prohibit") + "persons = true\n"
    )
    assert parse_measures(restriction, source="330000.toml").measures["M-ZJ-01"].on_persons


def _widened(catalog: Catalog, code: str, rule_id: str, **changes: object) -> Catalog:
    category = catalog.category(code)
    rules = tuple(
        dataclasses.replace(r, **changes) if r.rule_id == rule_id else r  # type: ignore[arg-type]
        for r in category.share_rules
    )
    return _with_category(catalog, code, share_rules=rules)


@pytest.mark.parametrize(
    ("rule_id", "changes", "shown_to"),
    [
        # The auditor gets the masked variant only, whatever a rule says.
        ("debtor-auditor", {"fields": {"FR_ZJHM": Visibility.CLEAR}}, "debtor-auditor"),
        # Procurement applies no measure on persons of a judgment debtor.
        (
            "debtor-dept-persons",
            {"domains": frozenset({"high_consumption", "procurement"})},
            "debtor-dept-persons",
        ),
    ],
    ids=["auditor", "department-without-person-measures"],
)
def test_a_persons_number_is_clear_only_to_nodes_and_departments_applying_person_measures(
    national: MeasuresList,
    catalog: Catalog,
    rule_id: str,
    changes: dict[str, object],
    shown_to: str,
) -> None:
    widened = _widened(catalog, "dishonest_debtor", rule_id, **changes)
    with pytest.raises(
        CatalogError,
        match=rf"^000000\.toml: category dishonest_debtor: share rule {shown_to} shows person "
        r"field FR_ZJHM in clear, but only nodes and departments applying a measure on persons "
        r"\(exit_control, high_consumption, market_regulation, real_estate, travel\) may see it",
    ):
        check_catalog_measures(widened, national)


def test_a_list_naming_persons_must_carry_a_measure_on_them(
    national: MeasuresList, catalog: Catalog
) -> None:
    debtor = catalog.category("dishonest_debtor")
    without = _with_category(
        catalog,
        "dishonest_debtor",
        measures=("M-PROC-01",),
        share_rules=tuple(r for r in debtor.share_rules if r.rule_id != "debtor-dept-persons"),
    )
    with pytest.raises(
        CatalogError,
        match=r"^000000\.toml: category dishonest_debtor: names people restricted with the "
        r"subject, but carries no measure that falls on them",
    ):
        check_catalog_measures(without, national)
