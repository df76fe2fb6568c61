"""Where a record goes next: records up only, list entries up and down every branch.

The national base catalog (``gateway/data/catalog/000000.toml``) shares each of
these categories with the parent, and the list kinds also with children; each
case names the expected neighbours by hand.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from gateway.core.catalog import Catalog, Category, CategoryKind, RecipientKind
from gateway.core.errors import AccessDeniedError
from gateway.core.identifiers import SubjectType
from gateway.core.routing import LOCAL, check_arrival, record_recipients
from gateway.node.catalog_files import load_packaged_catalog

NATIONAL, ZHEJIANG, JIANGSU, ANHUI = "000000", "330000", "320000", "340000"
HUZHOU, JIAXING, LISHUI = "330500", "330400", "331100"
CITIES = [JIAXING, HUZHOU, LISHUI]
PROVINCES = [JIANGSU, ZHEJIANG, ANHUI]
LEGAL = SubjectType.LEGAL_PERSON
LISTS = (
    "serious_dishonesty",
    "dishonest_debtor",
    "abnormal_operation",
    "tax_major_violation",
    "procurement_dishonesty",
    "work_safety_dishonesty",
    "wage_arrears_dishonesty",
    "statistics_dishonesty",
    "honours",
)
RECORDS = ("admin_licence", "admin_penalty", "credit_commitment")


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_packaged_catalog(NATIONAL)


def route(
    catalog: Catalog, code: str, *, origin: str, parent: str | None, children: list[str]
) -> list[str]:
    return record_recipients(
        origin=origin,
        parent=parent,
        children=children,
        category=catalog.category(code),
        subject_type=LEGAL,
    )


def test_the_list_kinds_are_black_and_red_lists_only(catalog: Catalog) -> None:
    assert [k for k in CategoryKind if k.is_list] == [CategoryKind.BLACKLIST, CategoryKind.REDLIST]
    assert sorted(c for c in catalog.categories if catalog.category(c).kind.is_list) == sorted(
        LISTS
    )


@pytest.mark.parametrize("code", LISTS)
def test_a_list_entry_filed_at_a_city_goes_up_only_as_a_city_has_no_children(
    catalog: Catalog, code: str
) -> None:
    assert route(catalog, code, origin=LOCAL, parent=ZHEJIANG, children=[]) == [ZHEJIANG]


@pytest.mark.parametrize("code", LISTS)
def test_a_province_sends_a_citys_list_entry_up_and_to_its_other_cities(
    catalog: Catalog, code: str
) -> None:
    assert route(catalog, code, origin=HUZHOU, parent=NATIONAL, children=CITIES) == [
        NATIONAL,
        JIAXING,
        LISHUI,
    ]


@pytest.mark.parametrize("code", LISTS)
def test_national_sends_a_provinces_list_entry_to_every_other_province(
    catalog: Catalog, code: str
) -> None:
    assert route(catalog, code, origin=ZHEJIANG, parent=None, children=PROVINCES) == [
        JIANGSU,
        ANHUI,
    ]


@pytest.mark.parametrize("code", LISTS)
def test_a_list_entry_from_the_parent_goes_to_every_child_and_never_back_up(
    catalog: Catalog, code: str
) -> None:
    assert route(catalog, code, origin=NATIONAL, parent=NATIONAL, children=CITIES) == CITIES
    assert route(catalog, code, origin=ZHEJIANG, parent=ZHEJIANG, children=[]) == []


@pytest.mark.parametrize("code", LISTS)
def test_a_list_entry_issued_at_a_hub_goes_up_and_to_every_child(
    catalog: Catalog, code: str
) -> None:
    assert route(catalog, code, origin=LOCAL, parent=NATIONAL, children=CITIES) == [
        NATIONAL,
        *CITIES,
    ]
    assert route(catalog, code, origin=LOCAL, parent=None, children=PROVINCES) == PROVINCES


@pytest.mark.parametrize("code", RECORDS)
def test_records_go_up_only_whatever_their_origin(catalog: Catalog, code: str) -> None:
    assert route(catalog, code, origin=LOCAL, parent=ZHEJIANG, children=[]) == [ZHEJIANG]
    assert route(catalog, code, origin=HUZHOU, parent=NATIONAL, children=CITIES) == [NATIONAL]
    assert route(catalog, code, origin=LOCAL, parent=NATIONAL, children=CITIES) == [NATIONAL]
    assert route(catalog, code, origin=ZHEJIANG, parent=None, children=PROVINCES) == []
    # A record pushed down by a parent (none should be) is never passed further down.
    assert route(catalog, code, origin=NATIONAL, parent=NATIONAL, children=CITIES) == []


def test_a_list_entry_goes_only_where_the_policy_shares_its_category(catalog: Catalog) -> None:
    category = catalog.category("dishonest_debtor")

    def without(kind: RecipientKind) -> Category:
        rules = tuple(r for r in category.share_rules if r.recipient is not kind)
        return replace(category, share_rules=rules)

    def recipients(changed: Category) -> list[str]:
        return record_recipients(
            origin=HUZHOU, parent=NATIONAL, children=CITIES, category=changed, subject_type=LEGAL
        )

    no_children, no_parent = without(RecipientKind.CHILD), without(RecipientKind.PARENT)

    assert recipients(no_children) == [NATIONAL]
    assert recipients(no_parent) == [JIAXING, LISHUI]


@pytest.mark.parametrize(
    ("sender", "parent", "issuer"),
    [
        (HUZHOU, NATIONAL, HUZHOU),  # at Zhejiang: Huzhou's own
        (ZHEJIANG, None, HUZHOU),  # at national: a city of Zhejiang's branch
        (ZHEJIANG, None, ZHEJIANG),  # at national: Zhejiang's own
        (NATIONAL, NATIONAL, "430100"),  # at Zhejiang, from its parent: from anywhere
    ],
)
def test_what_comes_up_from_a_child_was_issued_in_its_branch_and_anything_comes_down(
    sender: str, parent: str | None, issuer: str
) -> None:
    check_arrival(sender=sender, parent=parent, record_id="r", issuer=issuer)


@pytest.mark.parametrize(
    ("sender", "parent", "issuer"),
    [
        (LISHUI, NATIONAL, HUZHOU),  # at Zhejiang: a peer city's listing
        (ZHEJIANG, None, "430100"),  # at national: another province's city
        (ZHEJIANG, None, NATIONAL),  # at national: its own, sent back up
    ],
)
def test_a_child_passing_up_a_record_from_outside_its_branch_is_refused(
    sender: str, parent: str | None, issuer: str
) -> None:
    with pytest.raises(AccessDeniedError) as refused:
        check_arrival(sender=sender, parent=parent, record_id="r-1", issuer=issuer)

    assert str(refused.value) == (
        f"node {sender} passed up record r-1 issued by node {issuer}, outside its branch: "
        "a child passes up only what its own branch issued"
    )
    assert refused.value.rule == "federation:up-own-branch-only"
