"""Every list kind of the catalog can be issued, at a hub and at a city, by its filers only.

The in-process federation harness: national, Zhejiang, and two of its cities
(Huzhou and Lishui), with real stores, keys and use cases. An entry of each
list, filed by a department of a domain that files it, is signed where it is
filed and held at every node; a department of another domain is refused,
audited, and nothing is signed or sent.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.core.principal import Principal, Role
from gateway.node.catalog_files import load_packaged_catalog
from gateway.node.config import FederationSettings
from gateway.node.intake import IntakeOutcome, Submission
from gateway.store import AuditFilter
from tests.support.federation import Keystore
from tests.support.harness import InProcessFederation, keystore_for, migrated_template
from tests.support.records import LIST_FILERS, list_entry_fields

NATIONAL, ZHEJIANG, HUZHOU, LISHUI = "000000", "330000", "330500", "331100"
NODES = (NATIONAL, ZHEJIANG, HUZHOU, LISHUI)
DECIDED = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=20)
FAST = FederationSettings(initial_backoff_ms=1, max_backoff_ms=2, lease_s=5)
NEW_LISTS = (
    "tax_major_violation",
    "procurement_dishonesty",
    "work_safety_dishonesty",
    "wage_arrears_dishonesty",
    "statistics_dishonesty",
)


@pytest.fixture(scope="module")
def keystore(tmp_path_factory: pytest.TempPathFactory) -> Keystore:
    return keystore_for(tmp_path_factory.mktemp("keys"), NODES)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return migrated_template(tmp_path_factory.mktemp("template"))


@pytest.fixture
def fed(tmp_path: Path, keystore: Keystore, template: Path) -> Iterator[InProcessFederation]:
    federation = InProcessFederation.build(
        tmp_path, keystore, NODES, settings=FAST, template=template
    )
    try:
        yield federation
    finally:
        federation.close()


def filer(node: str, domain: str) -> Principal:
    return Principal(Role.DEPARTMENT, node, f"{domain}-office", domain, "4" * 64, "in-process")


def test_the_harness_covers_every_list_of_the_catalog() -> None:
    catalog = load_packaged_catalog(HUZHOU)
    lists = {code for code, c in catalog.categories.items() if c.kind.is_list}
    assert lists == set(LIST_FILERS)
    assert all(catalog.category(c).may_be_filed_by(d) for c, d in LIST_FILERS.items())


@pytest.mark.parametrize("issuer", [NATIONAL, HUZHOU], ids=["at-the-hub", "at-a-city"])
def test_every_list_kind_is_issued_and_held_at_every_node(
    fed: InProcessFederation, issuer: str
) -> None:
    issued: dict[str, str] = {}
    for i, (category, domain) in enumerate(sorted(LIST_FILERS.items()), start=1):
        entry = Submission(str(i), category, list_entry_fields(category, i, decided=DECIDED))
        [result] = fed[issuer].submit([entry], filer(issuer, domain))
        assert result.outcome is IntakeOutcome.ACCEPTED, (category, result.reason)
        issued[category] = result.record_id
    fed.deliver()
    for node in NODES:
        for category, record_id in issued.items():
            row = fed[node].store.records.get(record_id, 1)
            assert (row.category, row.issuer, row.status) == (category, issuer, "active"), node


@pytest.mark.parametrize("category", NEW_LISTS)
def test_a_department_outside_a_lists_filing_domains_cannot_issue_it(
    fed: InProcessFederation, category: str
) -> None:
    """Attack: a department files a list that another authority keeps (谁产生、谁负责)."""
    intruder = "tax" if category == "procurement_dishonesty" else "procurement"
    owner = LIST_FILERS[category]
    huzhou = fed[HUZHOU]
    entry = Submission("1", category, list_entry_fields(category, 1, decided=DECIDED))
    [refused] = huzhou.submit([entry], filer(HUZHOU, intruder))
    label = load_packaged_catalog(HUZHOU).category(category).label
    assert (refused.outcome, refused.record_id, refused.reason) == (
        IntakeOutcome.REFUSED,
        "",
        f"category {category} ({label}) is filed only by department domains {owner}, "
        f"not {intruder}",
    )
    [denied] = [
        e.event
        for e in huzhou.store.audit.events(AuditFilter(decision="denied"))
        if e.event.action == "intake.submit"
    ]
    assert (denied.actor, denied.rule) == (
        f"department:{HUZHOU}/{intruder}-office",
        "intake:filing-domain",
    )
    assert huzhou.store.records.count() == 0
    assert fed.deliver() == 0
    [accepted] = huzhou.submit([entry], filer(HUZHOU, owner))
    assert accepted.outcome is IntakeOutcome.ACCEPTED, accepted.reason
