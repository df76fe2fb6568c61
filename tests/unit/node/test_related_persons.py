"""一处失信、处处受限 for people: a listed company's legal representative is checked everywhere.

The in-process federation harness (national, Zhejiang, Huzhou and Lishui):
the Huzhou court lists a company as a judgment debtor with its legal
representative and actual controller. Their citizen numbers travel in clear
between nodes (the key of the measures on persons), every node indexes them,
and a check on either at Lishui hits, naming the company and only the measures
that fall on persons. Departments that apply no such measure, auditors and the
public see the numbers masked, and a check there finds nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.core.catalog import PersonRole, RecipientKind
from gateway.core.discipline import CheckDecision
from gateway.core.masking import mask_identifier
from gateway.core.policy import Recipient, decide
from gateway.core.principal import Principal, Role
from gateway.core.records import redact_record
from gateway.core.statements import StatusKind
from gateway.node.catalog_files import load_packaged_catalog, load_packaged_measures
from gateway.node.config import FederationSettings
from gateway.node.discipline import CheckOutcome, DisciplineService
from gateway.node.intake import IntakeOutcome, Submission
from gateway.node.queries import RecordQueries
from gateway.node.record_reader import StoreRecordReader
from gateway.node.revocations import Revocations
from gateway.store import AuditFilter
from tests.support.federation import Keystore
from tests.support.harness import (
    HarnessNode,
    InProcessFederation,
    keystore_for,
    migrated_template,
)
from tests.support.records import citizen_number, company_code, debtor_fields, disclosed

NATIONAL, ZHEJIANG, HUZHOU, LISHUI = "000000", "330000", "330500", "331100"
NODES = (NATIONAL, ZHEJIANG, HUZHOU, LISHUI)
DECIDED = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=20)
FAST = FederationSettings(initial_backoff_ms=1, max_backoff_ms=2, lease_s=5)
LEGAL_REP = citizen_number(41)
CONTROLLER = citizen_number(42)
COMPANY = company_code(100_001)


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


def office(node: str, domain: str) -> Principal:
    return Principal(Role.DEPARTMENT, node, f"{domain}-office", domain, "5" * 64, "in-process")


def list_debtor(fed: InProcessFederation) -> str:
    """The Huzhou court lists company 1 with its legal representative and actual controller."""
    fields = {
        **debtor_fields(1, decided=DECIDED),
        "FRDB": "王五",
        "FR_ZJLX": "身份证",
        "FR_ZJHM": LEGAL_REP,
        "LB_SJKZR": "赵六",
        "LB_SJKZR_ZJLX": "身份证",
        "LB_SJKZR_ZJHM": CONTROLLER,
    }
    [result] = fed[HUZHOU].submit(
        [Submission("1", "dishonest_debtor", fields)], office(HUZHOU, "court")
    )
    assert result.outcome is IntakeOutcome.ACCEPTED, result.reason
    fed.deliver()
    return result.record_id


def check(fed: InProcessFederation, node: HarnessNode, subject: str, domain: str) -> CheckOutcome:
    service = DisciplineService(
        node_id=node.node_id,
        catalog=load_packaged_catalog(node.node_id),
        measures=load_packaged_measures(node.node_id),
        store=node.store,
        router=node.federation.messages,
        clock=lambda: int(fed.clock()),
        revocations=Revocations(
            node.store, node_id=node.node_id, directory=lambda: None, clock=lambda: int(fed.clock())
        ),
    )
    return service.check(
        office(node.node_id, domain),
        subject=subject,
        domain=domain,
        purpose="逢办必查",
        case_id=f"case-{domain}",
    )


def test_a_check_on_the_legal_representative_in_another_city_names_the_company(
    fed: InProcessFederation,
) -> None:
    record_id = list_debtor(fed)
    lishui = fed[LISHUI]
    outcome = check(fed, lishui, LEGAL_REP, "high_consumption")
    assert outcome.result.decision is CheckDecision.INTERCEPT
    [hit] = outcome.result.hits
    assert (hit.record_id, hit.issuer, hit.category) == (record_id, HUZHOU, "dishonest_debtor")
    assert (hit.person, hit.listed_subject, hit.listed_name) == (
        PersonRole.LEGAL_REPRESENTATIVE,
        COMPANY,
        "被执行测试企业1有限公司",
    )
    assert [m.code for m in hit.measures] == ["M-CONS-01"]
    controller = check(fed, lishui, CONTROLLER, "exit_control").result
    assert controller.decision is CheckDecision.INTERCEPT
    assert [(h.person, [m.code for m in h.measures]) for h in controller.hits] == [
        (PersonRole.ACTUAL_CONTROLLER, ["M-EXIT-01"])
    ]
    # The check is audited with the department and the person shown masked.
    events = [
        e.event
        for e in lishui.store.audit.events(AuditFilter(decision="allowed"))
        if e.event.action == "discipline.check"
    ]
    assert [(e.actor, e.subject, e.records) for e in events] == [
        (f"department:{LISHUI}/high_consumption-office", mask_identifier(LEGAL_REP),
         (f"{record_id}@1",)),
        (f"department:{LISHUI}/exit_control-office", mask_identifier(CONTROLLER),
         (f"{record_id}@1",)),
    ]  # fmt: skip


def test_a_department_applying_no_measure_on_persons_learns_nothing_from_the_number(
    fed: InProcessFederation,
) -> None:
    list_debtor(fed)
    lishui = fed[LISHUI]
    procurement = check(fed, lishui, LEGAL_REP, "procurement").result
    assert (procurement.decision, procurement.hits) == (CheckDecision.CLEAR, ())
    # The company itself still intercepts procurement (its own measure).
    company = check(fed, lishui, COMPANY, "procurement").result
    assert company.decision is CheckDecision.INTERCEPT
    assert company.hits[0].person is None


def test_nodes_get_the_numbers_in_clear_everyone_else_masked(fed: InProcessFederation) -> None:
    record_id = list_debtor(fed)
    lishui = fed[LISHUI]
    held = lishui.store.records.get(record_id, 1)
    assert held.sd_jwt is not None
    assert {k: v for k, v in disclosed(held.sd_jwt).items() if k.endswith("ZJHM")} == {
        "FR_ZJHM": LEGAL_REP,
        "LB_SJKZR_ZJHM": CONTROLLER,
    }
    category = load_packaged_catalog(LISHUI).category("dishonest_debtor")
    for recipient in (Recipient(RecipientKind.PUBLIC), Recipient(RecipientKind.AUDITOR)):
        shown = disclosed(redact_record(held.sd_jwt, decide(category, recipient)))
        assert "FR_ZJHM" not in shown
        assert shown["FR_ZJHM#masked"] == mask_identifier(LEGAL_REP)
    queries = RecordQueries(
        node_id=LISHUI,
        catalog=load_packaged_catalog(LISHUI),
        records=StoreRecordReader(lishui.store.records),
        audit=lambda event: lishui.store.audit.append([event]),
        clock=lambda: int(fed.clock()),
    )
    for domain, expected in (
        ("procurement", mask_identifier(LEGAL_REP)),
        ("high_consumption", LEGAL_REP),
    ):
        view = queries.get(
            office(LISHUI, domain), record_id=record_id, version=0, purpose="资格审查"
        )
        assert view.fields["FR_ZJHM"] == expected, domain


def test_a_revoked_listing_no_longer_hits_its_people(fed: InProcessFederation) -> None:
    record_id = list_debtor(fed)
    fed[HUZHOU].federation.statuses.issue(
        office(HUZHOU, "court"),
        kind=StatusKind.REVOCATION,
        record_id=record_id,
        version=1,
        reason="执行完毕",
    )
    fed.deliver()
    outcome = check(fed, fed[LISHUI], LEGAL_REP, "high_consumption").result
    assert (outcome.decision, outcome.hits) == (CheckDecision.CLEAR, ())
    assert fed[LISHUI].store.records.list_by_person(LEGAL_REP) == []
