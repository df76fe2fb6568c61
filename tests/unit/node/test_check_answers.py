"""Proportionate check answers across an in-process federation (issue 15 item 4).

A national hub and a city (Huzhou, under Zhejiang), wired by the in-memory peer
client of :mod:`tests.support.harness`, with the clock the test moves: list
entries issued at national reach the city; penalties are filed at the city.
Each test checks the subject at the city and asserts the decision, the reason of
each hit, what the department sees of a credit record, and the audit event.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.core.catalog import RecipientKind
from gateway.core.discipline import CheckDecision
from gateway.core.identifiers import SubjectType, compute_citizen_check
from gateway.core.policy import Recipient, decide
from gateway.core.principal import Principal
from gateway.core.records import CHINA_STANDARD_TIME, display_fields, redact_record
from gateway.node.catalog_files import load_packaged_catalog
from gateway.node.check_views import CheckViews
from gateway.node.config import FederationSettings
from gateway.node.discipline import CheckOutcome
from gateway.node.intake import IntakeOutcome, Submission
from gateway.store import AuditFilter, RecordRow
from tests.support.federation import Keystore
from tests.support.harness import (
    InProcessFederation,
    department,
    keystore_for,
    migrated_template,
)
from tests.support.records import (
    abnormal_fields,
    citizen_number,
    company_code,
    honours_fields,
    notice_fields,
    penalty_fields,
)

NATIONAL, ZHEJIANG, HUZHOU = "000000", "330000", "330500"
NODES = (NATIONAL, ZHEJIANG, HUZHOU)
FAST = FederationSettings(initial_backoff_ms=1, max_backoff_ms=2, lease_s=5)
PROCUREMENT = department(HUZHOU)
LICENSING = department(HUZHOU, "licensing-office", domain="licensing")
SERVICE = department(HUZHOU, "service-office", domain="public_service")
MARKET = department(HUZHOU, "market-office", domain="market_regulation")


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


def today(fed: InProcessFederation) -> dt.date:
    return dt.datetime.fromtimestamp(fed.clock(), CHINA_STANDARD_TIME).date()


def file(
    fed: InProcessFederation, node: str, category: str, fields: dict[str, str], by: Principal
) -> str:
    (result,) = fed[node].submit([Submission("1", category, fields)], by)
    assert result.outcome is IntakeOutcome.ACCEPTED, result
    return result.record_id


def check(fed: InProcessFederation, subject: str, by: Principal = PROCUREMENT) -> CheckOutcome:
    return fed[HUZHOU].discipline.check(
        by, subject=subject, domain="", purpose="资格审查", case_id="CG-2026-15"
    )


def check_event_detail(fed: InProcessFederation, check_id: str) -> str:
    events = fed[HUZHOU].store.audit.events(AuditFilter(action="discipline.check"))
    (event,) = [e.event for e in events if e.event.detail.startswith(f"check {check_id}:")]
    return event.detail


def test_an_abnormal_operation_entry_asks_procurement_for_review_not_a_ban(
    fed: InProcessFederation,
) -> None:
    decided = today(fed) - dt.timedelta(days=20)
    record_id = file(fed, HUZHOU, "abnormal_operation", abnormal_fields(1, decided=decided), MARKET)
    outcome = check(fed, company_code(100_001))
    assert outcome.result.decision is CheckDecision.REVIEW
    (hit,) = outcome.result.hits
    assert (hit.record_id, hit.outcome, hit.reference) == (record_id, CheckDecision.REVIEW, False)
    assert hit.reason == (
        "restricted, review required: M-PROC-02 政府采购中作为重要考量因素，审慎审查 (review)"
    )
    assert check_event_detail(fed, outcome.check_id) == (
        f"check {outcome.check_id}: review, 1 notices, 0 records"
    )


def test_a_serious_dishonesty_listing_from_national_intercepts_at_the_city(
    fed: InProcessFederation,
) -> None:
    decided = today(fed) - dt.timedelta(days=20)
    record_id = file(
        fed, NATIONAL, "serious_dishonesty", notice_fields(2, decided=decided), department(NATIONAL)
    )
    fed.deliver()
    outcome = check(fed, company_code(100_002))
    assert outcome.result.decision is CheckDecision.INTERCEPT
    (hit,) = outcome.result.hits
    assert (hit.record_id, hit.issuer) == (record_id, NATIONAL)
    assert hit.reason == "prohibited: M-PROC-01 限制参加政府采购活动 (prohibit)"


def test_a_red_list_entry_gives_licensing_a_green_channel(fed: InProcessFederation) -> None:
    decided = today(fed) - dt.timedelta(days=20)
    file(fed, NATIONAL, "honours", honours_fields(3, decided=decided), department(NATIONAL))
    fed.deliver()
    green = check(fed, company_code(100_003), LICENSING)
    assert green.result.decision is CheckDecision.GREEN_CHANNEL
    assert green.result.hits[0].reason == "incentive: M-INC-01 行政审批绿色通道、容缺受理"
    assert check(fed, company_code(100_003)).result.decision is CheckDecision.CLEAR


def test_a_serious_penalty_in_force_asks_for_review_until_its_disclosure_period_ends(
    fed: InProcessFederation,
) -> None:
    decided = today(fed) - dt.timedelta(days=20)
    fields = penalty_fields(4, decided=decided, severity="serious")
    record_id = file(fed, HUZHOU, "admin_penalty", fields, PROCUREMENT)
    outcome = check(fed, company_code(4))
    assert outcome.result.decision is CheckDecision.REVIEW
    (hit,) = outcome.result.hits
    assert (hit.record_id, hit.reference, hit.outcome, hit.measures) == (
        record_id,
        True,
        CheckDecision.REVIEW,
        (),
    )
    assert hit.reason == (
        "serious 行政处罚 in force: the catalog weighs it in procurement, review required"
    )
    # Redacted for a screening department: Zhejiang's supplement withholds personal
    # fields from it, so the legal representative's name and number are not shown.
    shown = {code: value for code, value in fields.items() if code not in ("FRDB", "FR_ZJHM")}
    assert hit.fields == shown
    assert check_event_detail(fed, outcome.check_id) == (
        f"check {outcome.check_id}: review, 0 notices, 1 records"
    )
    (row,) = fed[HUZHOU].store.records.list_by_subject(company_code(4))
    fed.clock.advance(row.exp - fed.clock() - 1)
    assert check(fed, company_code(4)).result.decision is CheckDecision.REVIEW
    fed.clock.advance(1)
    after = check(fed, company_code(4))
    assert (after.result.decision, after.result.hits) == (CheckDecision.CLEAR, ())


def test_a_general_penalty_is_a_reference_hit_only(fed: InProcessFederation) -> None:
    decided = today(fed) - dt.timedelta(days=20)
    file(fed, HUZHOU, "admin_penalty", penalty_fields(5, decided=decided), PROCUREMENT)
    outcome = check(fed, company_code(5))
    assert outcome.result.decision is CheckDecision.CLEAR
    (hit,) = outcome.result.hits
    assert (hit.reference, hit.reason) == (True, "general 行政处罚 in force: for reference")


@pytest.mark.parametrize("by", [SERVICE, MARKET], ids=["public_service", "market_regulation"])
def test_a_department_whose_scope_excludes_penalties_gets_no_reference_hit(
    fed: InProcessFederation, by: Principal
) -> None:
    # Penalties go to screening domains, and to market regulation's enforcement role only.
    decided = today(fed) - dt.timedelta(days=20)
    fields = penalty_fields(6, decided=decided, severity="serious")
    file(fed, HUZHOU, "admin_penalty", fields, PROCUREMENT)
    outcome = check(fed, company_code(6), by)
    assert (outcome.result.decision, outcome.result.hits) == (CheckDecision.CLEAR, ())
    assert check_event_detail(fed, outcome.check_id) == (
        f"check {outcome.check_id}: clear, 0 notices, 0 records"
    )


def _citizen_born(born: dt.date) -> str:
    first17 = f"330502{born:%Y%m%d}017"
    return first17 + compute_citizen_check(first17)


def test_a_minor_is_flagged_and_the_audit_event_says_so(fed: InProcessFederation) -> None:
    child = _citizen_born(today(fed) - dt.timedelta(days=365 * 10))
    outcome = check(fed, child)
    assert (outcome.result.decision, outcome.result.minor) == (CheckDecision.CLEAR, True)
    assert check_event_detail(fed, outcome.check_id) == (
        f"check {outcome.check_id}: clear, 0 notices, 0 records, minor (宽容审慎)"
    )
    adult = check(fed, citizen_number(7))
    assert adult.result.minor is False


def _masked_number(number: str) -> str:
    return f"{number[:4]}{'*' * 10}{number[-4:]}"


def test_each_department_sees_a_notice_redacted_by_its_own_scope_check_after_check(
    fed: InProcessFederation,
) -> None:
    # Plans and the fields they show are kept between checks (gateway.node.check_views):
    # procurement's masked view must not reach licensing, nor licensing's clear one
    # procurement, whichever checks first.
    decided = today(fed) - dt.timedelta(days=20)
    fields = notice_fields(7, decided=decided)
    file(fed, NATIONAL, "serious_dishonesty", fields, department(NATIONAL))
    fed.deliver()
    procurement = {**fields, "FRDB": "李*", "FR_ZJHM": _masked_number(fields["FR_ZJHM"])}
    licensing = {**fields, "FRDB": "李*"}
    seen = [
        check(fed, company_code(100_007), by).result.hits[0].fields
        for by in (PROCUREMENT, LICENSING, PROCUREMENT, LICENSING)
    ]
    assert seen == [procurement, licensing, procurement, licensing]


def test_a_new_version_of_a_record_is_shown_as_it_now_reads(fed: InProcessFederation) -> None:
    decided = today(fed) - dt.timedelta(days=20)
    fields = penalty_fields(8, decided=decided, severity="serious")
    record_id = file(fed, HUZHOU, "admin_penalty", fields, PROCUREMENT)
    personal = ("FRDB", "FR_ZJHM")
    (first,) = check(fed, company_code(8)).result.hits
    assert (first.version, first.fields["CF_NR_FK"]) == (1, fields["CF_NR_FK"])
    changed = {**fields, "CF_NR_FK": "9.99"}
    (again,) = fed[HUZHOU].submit([Submission("2", "admin_penalty", changed)], PROCUREMENT)
    assert (again.outcome, again.record_id, again.version) == (
        IntakeOutcome.NEW_VERSION,
        record_id,
        2,
    )
    (hit,) = check(fed, company_code(8)).result.hits
    assert (hit.record_id, hit.version) == (record_id, 2)
    assert hit.fields == {code: value for code, value in changed.items() if code not in personal}


def _penalties(fed: InProcessFederation, *numbers: int) -> list[RecordRow]:
    decided = today(fed) - dt.timedelta(days=20)
    for i in numbers:
        file(fed, HUZHOU, "admin_penalty", penalty_fields(i, decided=decided), PROCUREMENT)
    return [fed[HUZHOU].store.records.list_by_subject(company_code(i))[0] for i in numbers]


_PROCUREMENT = Recipient(RecipientKind.DEPARTMENT, domain="procurement", role="department")


def _redacted(row: RecordRow) -> dict[str, str]:
    """What procurement may see of ``row``, redacted without anything kept."""
    category = load_packaged_catalog(HUZHOU).category(row.category)
    plan = decide(category, _PROCUREMENT, SubjectType(row.subject_type))
    return display_fields(redact_record(row.sd_jwt or "", plan))


def _plan_of(row: RecordRow) -> dict[str, Any]:
    return {
        "category": row.category,
        "recipient": _PROCUREMENT,
        "subject_type": SubjectType(row.subject_type),
    }


def test_kept_fields_serve_only_the_sd_jwt_they_were_redacted_from(
    fed: InProcessFederation,
) -> None:
    rows = _penalties(fed, 9, 10)
    expected = [_redacted(row) for row in rows]
    assert expected[0] != expected[1]
    views = CheckViews(load_packaged_catalog(HUZHOU))
    first = rows[0]
    shown = [
        # Always the first record's id and version; the second's SD-JWT is redacted anew.
        views.fields(first.record_id, first.version, row.sd_jwt or "", **_plan_of(row))
        for row in (rows[0], rows[1], rows[1], rows[0])
    ]
    assert shown == [expected[0], expected[1], expected[1], expected[0]]
    with pytest.raises(TypeError):
        shown[0]["CF_NR_FK"] = "0"  # type: ignore[index]
    assert views.fields(first.record_id, 1, first.sd_jwt or "", **_plan_of(first)) == expected[0]


def test_full_check_views_are_emptied_and_still_answer(fed: InProcessFederation) -> None:
    rows = _penalties(fed, 11, 12)
    views = CheckViews(load_packaged_catalog(HUZHOU), most_plans=1, most_fields=1)
    licensing = Recipient(RecipientKind.DEPARTMENT, domain="licensing", role="department")
    company = SubjectType.LEGAL_PERSON
    for _ in range(2):
        for row in rows:
            fields = views.fields(row.record_id, row.version, row.sd_jwt or "", **_plan_of(row))
            assert fields == _redacted(row)
        assert views.plan("admin_penalty", licensing, company).recipient == licensing
        assert views.plan("admin_penalty", _PROCUREMENT, company).recipient == _PROCUREMENT
