"""The check decision table: every status, every list type, precedence, and the remedies' rules."""

from __future__ import annotations

import dataclasses
import itertools
from datetime import date, datetime
from pathlib import Path

import pytest

from gateway.core.catalog import Catalog, CategoryKind, PersonRole, Severity, load_catalog
from gateway.core.discipline import (
    CheckDecision,
    HitTerms,
    NoticeFacts,
    basis_field,
    decide_check,
    is_minor,
    strongest,
)
from gateway.core.discipline_messages import FeedbackReport, HitReport, ObjectionFiling
from gateway.core.errors import AccessDeniedError, ConflictError, MalformedError, NotFoundError
from gateway.core.identifiers import SubjectType, age_on, citizen_birth_date, compute_citizen_check
from gateway.core.measures import MeasureEffect, MeasuresList, load_measures
from gateway.core.records import CHINA_STANDARD_TIME
from gateway.core.remedies import (
    ObjectionDecision,
    ObjectionState,
    RepairDecision,
    RepairState,
    check_repair_time,
    decide_repair,
    next_objection_state,
    objection_deadline,
    repair_earliest,
)

DATA = Path(__file__).resolve().parents[3] / "gateway" / "data"
NOW = 1_750_000_000
LATER = NOW + 86_400


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog([("000000.toml", (DATA / "catalog" / "000000.toml").read_text("utf-8"))])


@pytest.fixture(scope="module")
def measures() -> MeasuresList:
    return load_measures([("000000.toml", (DATA / "measures" / "000000.toml").read_text("utf-8"))])


def notice(
    record_id: str = "R1",
    *,
    category: str = "serious_dishonesty",
    status: str = "active",
    version: int = 1,
    exp: int = LATER,
    basis: str = "《失信行为纠正后的信用信息修复管理办法》",
    severity: str | None = None,
) -> NoticeFacts:
    fields = {"LB_YJ": basis, "HM_YJ": basis, "LB_ZXYJ": basis}
    if severity is not None:
        fields["CF_YZCD"] = severity
    return NoticeFacts(
        record_id=record_id,
        version=version,
        category=category,
        issuer="000000",
        status=status,
        exp=exp,
        fields=fields,
    )


def check(
    catalog: Catalog, measures: MeasuresList, *notices: NoticeFacts, domain: str = "procurement"
) -> tuple[CheckDecision, list[str]]:
    result = decide_check(notices, domain=domain, catalog=catalog, measures=measures, now=NOW)
    return result.decision, [h.record_id for h in result.hits]


# The issuer's statement decides: ``suspended`` pauses the measures, ``disputed`` only
# flags them, for every list type alike (the holder's catalog is not asked).
@pytest.mark.parametrize(
    ("category", "status", "decision"),
    [
        ("serious_dishonesty", "active", CheckDecision.INTERCEPT),
        ("serious_dishonesty", "suspended", CheckDecision.DISPUTED),
        ("serious_dishonesty", "disputed", CheckDecision.INTERCEPT),
        ("dishonest_debtor", "active", CheckDecision.INTERCEPT),
        ("dishonest_debtor", "suspended", CheckDecision.DISPUTED),
        ("dishonest_debtor", "disputed", CheckDecision.INTERCEPT),
        ("abnormal_operation", "suspended", CheckDecision.DISPUTED),
        # 经营异常名录 asks procurement for review (M-PROC-02), it does not bar.
        ("abnormal_operation", "active", CheckDecision.REVIEW),
        ("abnormal_operation", "disputed", CheckDecision.REVIEW),
        ("serious_dishonesty", "corrected", CheckDecision.CLEAR),
        ("serious_dishonesty", "revoked", CheckDecision.CLEAR),
        ("serious_dishonesty", "repaired", CheckDecision.CLEAR),
        ("serious_dishonesty", "expired", CheckDecision.CLEAR),
        ("dishonest_debtor", "revoked", CheckDecision.CLEAR),
        ("dishonest_debtor", "repaired", CheckDecision.CLEAR),
        ("admin_penalty", "active", CheckDecision.CLEAR),
        ("credit_commitment", "active", CheckDecision.CLEAR),
        ("honours", "active", CheckDecision.CLEAR),
    ],
)
def test_decision_for_procurement_by_list_type_and_status(
    catalog: Catalog, measures: MeasuresList, category: str, status: str, decision: CheckDecision
) -> None:
    got, _ = check(catalog, measures, notice(category=category, status=status))
    assert got is decision


def test_hits_carry_this_domains_measures_basis_issuer_and_flags(
    catalog: Catalog, measures: MeasuresList
) -> None:
    result = decide_check(
        [notice("R1"), notice("R2", category="dishonest_debtor", status="disputed")],
        domain="procurement",
        catalog=catalog,
        measures=measures,
        now=NOW,
    )
    assert result.decision is CheckDecision.INTERCEPT
    first, second = result.hits
    assert [m.code for m in first.measures] == ["M-PROC-01"]
    assert "政府采购法" in first.measures[0].basis
    assert first.basis == "《失信行为纠正后的信用信息修复管理办法》"
    assert first.issuer == "000000"
    assert first.ref == "R1@1"
    assert (first.disputed, first.measures_suspended, first.intercepts) == (False, False, True)
    # An objection whose issuer keeps the measures in force: flagged, still intercepting.
    assert (second.disputed, second.measures_suspended, second.intercepts) == (True, False, True)
    assert result.intercepting == (first, second)


def test_a_domain_without_measures_of_the_list_is_clear_but_sees_the_notice(
    catalog: Catalog, measures: MeasuresList
) -> None:
    result = decide_check([notice()], domain="travel", catalog=catalog, measures=measures, now=NOW)
    assert result.decision is CheckDecision.CLEAR
    assert [h.measures for h in result.hits] == [()]


def test_interception_wins_over_a_suspended_notice(
    catalog: Catalog, measures: MeasuresList
) -> None:
    got, ids = check(catalog, measures, notice("R1", status="suspended"), notice("R2"))
    assert got is CheckDecision.INTERCEPT
    assert ids == ["R2", "R1"]


def test_a_disputed_notice_of_another_domain_does_not_make_the_answer_disputed(
    catalog: Catalog, measures: MeasuresList
) -> None:
    got, _ = check(catalog, measures, notice(status="suspended"), domain="travel")
    assert got is CheckDecision.CLEAR


def test_only_the_latest_version_counts(catalog: Catalog, measures: MeasuresList) -> None:
    stale = notice(version=1, status="active")
    assert check(catalog, measures, stale, notice(version=2, status="revoked"))[0] is (
        CheckDecision.CLEAR
    )
    assert check(catalog, measures, notice(version=2), notice(version=1, status="corrected"))[
        0
    ] is (CheckDecision.INTERCEPT)


def test_an_expired_exp_never_counts_even_while_status_is_active(
    catalog: Catalog, measures: MeasuresList
) -> None:
    assert check(catalog, measures, notice(exp=NOW))[0] is CheckDecision.CLEAR
    assert check(catalog, measures, notice(exp=NOW + 1))[0] is CheckDecision.INTERCEPT


@pytest.mark.parametrize(
    ("domain", "extra", "decision"),
    [
        ("licensing", (), CheckDecision.GREEN_CHANNEL),
        ("finance", (), CheckDecision.GREEN_CHANNEL),
        ("procurement", (), CheckDecision.CLEAR),
        ("licensing", ("blacklist",), CheckDecision.INTERCEPT),
        ("licensing", ("suspended-blacklist",), CheckDecision.DISPUTED),
        ("public_service", ("blacklist",), CheckDecision.CLEAR),
        ("licensing", ("suspended-redlist",), CheckDecision.CLEAR),
        ("licensing", ("revoked-blacklist",), CheckDecision.GREEN_CHANNEL),
    ],
)
def test_red_list_green_channel_only_without_negative_entries(
    catalog: Catalog,
    measures: MeasuresList,
    domain: str,
    extra: tuple[str, ...],
    decision: CheckDecision,
) -> None:
    red = notice("H1", category="honours")
    notices = [red]
    for kind in extra:
        if kind == "blacklist":
            notices.append(notice("B1"))
        elif kind == "suspended-blacklist":
            notices.append(notice("B1", status="suspended"))
        elif kind == "revoked-blacklist":
            notices.append(notice("B1", status="revoked"))
        elif kind == "suspended-redlist":
            notices = [notice("H1", category="honours", status="suspended")]
    assert check(catalog, measures, *notices, domain=domain)[0] is decision


def test_green_hit_lists_the_incentives_of_the_domain(
    catalog: Catalog, measures: MeasuresList
) -> None:
    result = decide_check(
        [notice("H1", category="honours")],
        domain="licensing",
        catalog=catalog,
        measures=measures,
        now=NOW,
    )
    (hit,) = result.hits
    assert hit.kind is CategoryKind.REDLIST
    assert hit.green
    assert [m.code for m in hit.measures] == ["M-INC-01"]


def test_basis_field_per_list(catalog: Catalog) -> None:
    assert basis_field(catalog.category("serious_dishonesty")) == "LB_YJ"
    assert basis_field(catalog.category("dishonest_debtor")) == "LB_ZXYJ"
    assert basis_field(catalog.category("honours")) == "HM_YJ"
    assert basis_field(catalog.category("abnormal_operation")) is None


# One notice or record per outcome, for a finance department: 严重失信 carries
# M-FIN-01 (prohibit); under objection its measures pause; a serious penalty is
# weighed in finance; the red list gives finance a green channel; a general
# penalty is shown for reference only.
OUTCOME_SOURCES = {
    CheckDecision.INTERCEPT: notice("I"),
    CheckDecision.DISPUTED: notice("D", status="suspended"),
    CheckDecision.REVIEW: notice("R", category="admin_penalty", severity="serious"),
    CheckDecision.GREEN_CHANNEL: notice("G", category="honours"),
    CheckDecision.CLEAR: notice("C", category="admin_penalty", severity="general"),
}


@pytest.mark.parametrize(
    "present",
    [
        combo
        for size in range(len(OUTCOME_SOURCES) + 1)
        for combo in itertools.combinations(OUTCOME_SOURCES, size)
    ],
    ids=lambda combo: "+".join(d.value for d in combo) or "nothing",
)
def test_precedence_over_every_combination_of_outcomes(
    catalog: Catalog, measures: MeasuresList, present: tuple[CheckDecision, ...]
) -> None:
    result = decide_check(
        [OUTCOME_SOURCES[d] for d in present],
        domain="finance",
        catalog=catalog,
        measures=measures,
        now=NOW,
    )
    assert [h.outcome for h in result.hits] == list(present)
    # INTERCEPT > DISPUTED > REVIEW > GREEN_CHANNEL > CLEAR, except that any
    # dishonesty in force (every source but the red list) rules out a green channel.
    if CheckDecision.INTERCEPT in present:
        expected = CheckDecision.INTERCEPT
    elif CheckDecision.DISPUTED in present:
        expected = CheckDecision.DISPUTED
    elif CheckDecision.REVIEW in present:
        expected = CheckDecision.REVIEW
    elif present == (CheckDecision.GREEN_CHANNEL,):
        expected = CheckDecision.GREEN_CHANNEL
    else:
        expected = CheckDecision.CLEAR
    assert result.decision is expected


def test_strongest_is_the_order_of_the_decisions() -> None:
    assert [d.precedence for d in CheckDecision] == [0, 1, 2, 3, 4]
    assert strongest([]) is CheckDecision.CLEAR
    assert strongest([CheckDecision.GREEN_CHANNEL, CheckDecision.REVIEW]) is CheckDecision.REVIEW


@pytest.mark.parametrize(
    ("category", "domain", "decision", "reason"),
    [
        (
            "serious_dishonesty",
            "procurement",
            CheckDecision.INTERCEPT,
            "prohibited: M-PROC-01 限制参加政府采购活动 (prohibit)",
        ),
        (
            "abnormal_operation",
            "procurement",
            CheckDecision.REVIEW,
            "restricted, review required: M-PROC-02 政府采购中作为重要考量因素，审慎审查 (review)",
        ),
        (
            "abnormal_operation",
            "market_regulation",
            CheckDecision.REVIEW,
            "restricted, review required: M-MKT-01 列为重点监管对象，提高抽查比例和频次 (review)",
        ),
        (
            "serious_dishonesty",
            "finance",
            CheckDecision.INTERCEPT,
            "prohibited: M-FIN-01 限制获得财政资金补助和政策性资金支持 (prohibit)",
        ),
        (
            "serious_dishonesty",
            "licensing",
            CheckDecision.INTERCEPT,
            "prohibited: M-MKT-02 实施市场和行业禁入 (prohibit)",
        ),
        (
            "serious_dishonesty",
            "land_resources",
            CheckDecision.REVIEW,
            "restricted, review required: M-LAND-01 "
            "限制新增项目审批、核准，限制参与用地和矿业权审批 (restrict)",
        ),
        (
            "dishonest_debtor",
            "finance",
            CheckDecision.REVIEW,
            "restricted, review required: M-FIN-02 审慎授信，限制发行企业债券 (restrict)",
        ),
        (
            "serious_dishonesty",
            "travel",
            CheckDecision.CLEAR,
            "no measure of serious_dishonesty applies in travel",
        ),
        (
            "honours",
            "licensing",
            CheckDecision.GREEN_CHANNEL,
            "incentive: M-INC-01 行政审批绿色通道、容缺受理",
        ),
        ("honours", "procurement", CheckDecision.CLEAR, "no incentive of honours in procurement"),
    ],
)
def test_each_measure_effect_gives_its_answer_and_reason(
    catalog: Catalog,
    measures: MeasuresList,
    category: str,
    domain: str,
    decision: CheckDecision,
    reason: str,
) -> None:
    result = decide_check(
        [notice(category=category)], domain=domain, catalog=catalog, measures=measures, now=NOW
    )
    assert result.decision is decision
    (hit,) = result.hits
    assert (hit.outcome, hit.reason, hit.reference) == (decision, reason, False)


def test_the_measures_of_a_hit_carry_their_effect(catalog: Catalog, measures: MeasuresList) -> None:
    result = decide_check([notice()], domain="finance", catalog=catalog, measures=measures, now=NOW)
    (hit,) = result.hits
    assert [(m.code, m.effect) for m in hit.measures] == [
        ("M-FIN-01", MeasureEffect.PROHIBIT),
        ("M-FIN-02", MeasureEffect.RESTRICT),
    ]
    assert hit.reason == "prohibited: M-FIN-01 限制获得财政资金补助和政策性资金支持 (prohibit)"


@pytest.mark.parametrize(
    ("severity", "status", "domain", "decision", "reason"),
    [
        (
            "serious",
            "active",
            "procurement",
            CheckDecision.REVIEW,
            "serious 行政处罚 in force: the catalog weighs it in procurement, review required",
        ),
        (
            "serious",
            "active",
            "licensing",
            CheckDecision.REVIEW,
            "serious 行政处罚 in force: the catalog weighs it in licensing, review required",
        ),
        (
            "general",
            "active",
            "procurement",
            CheckDecision.CLEAR,
            "general 行政处罚 in force: for reference",
        ),
        (
            "minor",
            "active",
            "procurement",
            CheckDecision.CLEAR,
            "minor 行政处罚 in force: for reference",
        ),
        # market_regulation enforcement sees penalties, but the catalog does not weigh them there.
        (
            "serious",
            "active",
            "market_regulation",
            CheckDecision.CLEAR,
            "serious 行政处罚 in force: for reference",
        ),
        (
            "serious",
            "suspended",
            "procurement",
            CheckDecision.DISPUTED,
            "serious 行政处罚 under objection: not weighed meanwhile",
        ),
    ],
)
def test_credit_records_are_reference_hits_weighed_by_the_catalog(
    catalog: Catalog,
    measures: MeasuresList,
    severity: str,
    status: str,
    domain: str,
    decision: CheckDecision,
    reason: str,
) -> None:
    penalty = notice("P1", category="admin_penalty", severity=severity, status=status)
    result = decide_check([penalty], domain=domain, catalog=catalog, measures=measures, now=NOW)
    assert result.decision is decision
    (hit,) = result.hits
    assert (hit.reference, hit.outcome, hit.reason, hit.measures) == (True, decision, reason, ())
    assert (hit.severity, hit.expires_at, hit.fields["CF_YZCD"]) == (
        Severity(severity),
        LATER,
        severity,
    )


def test_a_record_past_its_disclosure_period_is_no_hit(
    catalog: Catalog, measures: MeasuresList
) -> None:
    penalty = notice("P1", category="admin_penalty", severity="serious", exp=NOW)
    result = decide_check(
        [penalty], domain="procurement", catalog=catalog, measures=measures, now=NOW
    )
    assert (result.decision, result.hits) == (CheckDecision.CLEAR, ())


def test_a_penalty_rules_out_the_green_channel(catalog: Catalog, measures: MeasuresList) -> None:
    red = notice("H1", category="honours")
    minor = notice("P1", category="admin_penalty", severity="minor")
    assert check(catalog, measures, red, domain="licensing")[0] is CheckDecision.GREEN_CHANNEL
    assert check(catalog, measures, red, minor, domain="licensing") == (
        CheckDecision.CLEAR,
        ["H1", "P1"],
    )


def test_a_court_listing_under_objection_still_intercepts_and_says_why(
    catalog: Catalog, measures: MeasuresList
) -> None:
    result = decide_check(
        [notice(category="dishonest_debtor", status="disputed")],
        domain="procurement",
        catalog=catalog,
        measures=measures,
        now=NOW,
    )
    assert result.decision is CheckDecision.INTERCEPT
    assert result.hits[0].reason == (
        "prohibited: M-PROC-01 限制参加政府采购活动 (prohibit); "
        "objection pending, measures stay in force meanwhile"
    )


@pytest.mark.parametrize(
    ("domain", "decision"),
    [("procurement", CheckDecision.REVIEW), ("travel", CheckDecision.CLEAR)],
)
def test_unread_records_of_a_weighed_category_ask_for_review(
    catalog: Catalog, measures: MeasuresList, domain: str, decision: CheckDecision
) -> None:
    result = decide_check(
        [], domain=domain, catalog=catalog, measures=measures, now=NOW, unread={"admin_penalty"}
    )
    assert (result.decision, result.unread) == (decision, ("admin_penalty",))


def _citizen(born: str) -> str:
    first17 = f"330502{born}123"
    return first17 + compute_citizen_check(first17)


def _at(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=CHINA_STANDARD_TIME).timestamp())


def test_a_minor_is_flagged_until_the_eighteenth_birthday_in_china_time() -> None:
    person = _citizen("20100615")
    assert citizen_birth_date(person) == date(2010, 6, 15)
    natural = SubjectType.NATURAL_PERSON
    assert is_minor(natural, person, now=_at("2028-06-14T23:59:59"))
    assert not is_minor(natural, person, now=_at("2028-06-15T00:00:00"))
    assert not is_minor(
        SubjectType.LEGAL_PERSON, "91330502MA2B3C4D5E", now=_at("2011-01-01T00:00:00")
    )


def test_age_on_counts_full_years() -> None:
    leap = date(2008, 2, 29)
    assert age_on(leap, date(2026, 2, 28)) == 17
    assert age_on(leap, date(2026, 3, 1)) == 18
    assert age_on(date(2010, 6, 15), date(2010, 6, 15)) == 0


def test_the_minor_flag_does_not_change_the_decision(
    catalog: Catalog, measures: MeasuresList
) -> None:
    result = decide_check(
        [notice()], domain="procurement", catalog=catalog, measures=measures, now=NOW, minor=True
    )
    assert (result.decision, result.minor) == (CheckDecision.INTERCEPT, True)


def test_objection_state_machine() -> None:
    assert next_objection_state(ObjectionState.FILED, ObjectionDecision.ACCEPT) is (
        ObjectionState.ACCEPTED
    )
    assert next_objection_state(ObjectionState.ACCEPTED, ObjectionDecision.DISMISS) is (
        ObjectionState.DISMISSED
    )
    with pytest.raises(ConflictError, match=r"filed cannot be decided 'uphold'.*accept, reject"):
        next_objection_state(ObjectionState.FILED, ObjectionDecision.UPHOLD)
    with pytest.raises(ConflictError, match=r"dismissed cannot be decided 'accept'.*closed"):
        next_objection_state(ObjectionState.DISMISSED, ObjectionDecision.ACCEPT)


def test_objection_deadline_is_the_catalogs(catalog: Catalog) -> None:
    assert objection_deadline(NOW, catalog.category("serious_dishonesty")) == NOW + 15 * 86_400


def test_repair_before_the_minimum_period_names_the_earliest_date(catalog: Catalog) -> None:
    serious = catalog.category("serious_dishonesty")
    decided = date(2025, 1, 31)
    assert repair_earliest(serious, Severity.SERIOUS, decided) == date(2026, 1, 31)
    with pytest.raises(AccessDeniedError, match="may be asked from 2026-01-31") as caught:
        check_repair_time(serious, Severity.SERIOUS, decided, date(2026, 1, 30))
    assert caught.value.rule == "repair:minimum-period"
    check_repair_time(serious, Severity.SERIOUS, decided, date(2026, 1, 31))
    with pytest.raises(AccessDeniedError, match=r"honours .* has no credit repair"):
        check_repair_time(catalog.category("honours"), Severity.GENERAL, decided, date(2030, 1, 1))


def test_repair_decided_once() -> None:
    assert decide_repair(RepairState.PENDING, RepairDecision.APPROVE) is RepairState.APPROVED
    with pytest.raises(ConflictError, match="already approved"):
        decide_repair(RepairState.APPROVED, RepairDecision.REFUSE)


HEX = "0123456789abcdef" * 2


def test_message_bodies_round_trip_and_refuse_bad_keys() -> None:
    hit = HitReport(
        check_id=HEX,
        record_id="Rabc",
        version=1,
        checked_at=NOW,
        department="department:330500/procurement-office",
        domain="procurement",
        purpose="bid review",
        case_id="",
        decision="intercept",
        measures=("M-PROC-01",),
    )
    assert HitReport.from_body(hit.to_body()) == hit
    feedback = FeedbackReport(
        feedback_id=HEX,
        check_id=HEX,
        record_id="Rabc",
        version=1,
        action="applied",
        note="bid refused",
        department="d",
        domain="procurement",
        case_id="C-1",
        checked_at=NOW,
    )
    assert FeedbackReport.from_body(feedback.to_body()) == feedback
    filing = ObjectionFiling(
        objection_id=HEX, record_id="Rabc", version=1, grounds="paid in full", filed_by="a"
    )
    assert ObjectionFiling.from_body(filing.to_body()) == filing
    with pytest.raises(MalformedError, match="objection has unknown key 'extra'"):
        ObjectionFiling.from_body({**filing.to_body(), "extra": 1})
    with pytest.raises(MalformedError, match="objection is missing key 'grounds'"):
        ObjectionFiling.from_body({k: v for k, v in filing.to_body().items() if k != "grounds"})
    with pytest.raises(MalformedError, match="objection key 'grounds' is blank"):
        ObjectionFiling.from_body({**filing.to_body(), "grounds": "  "})
    with pytest.raises(MalformedError, match="key 'action' is 'ignored', not one of applied"):
        FeedbackReport.from_body({**feedback.to_body(), "action": "ignored"})
    with pytest.raises(MalformedError, match="key 'measures' must list measure codes"):
        HitReport.from_body({**hit.to_body(), "measures": ["rm -rf"]})
    with pytest.raises(MalformedError, match="key 'version' is 0, outside 1"):
        HitReport.from_body({**hit.to_body(), "version": 0})
    with pytest.raises(MalformedError, match="key 'check_id' is not 32 lowercase hex"):
        FeedbackReport.from_body({**feedback.to_body(), "check_id": "X" * 32})


def test_a_hit_through_a_person_carries_only_the_measures_on_persons(
    catalog: Catalog, measures: MeasuresList
) -> None:
    debtor = dataclasses.replace(
        notice("R1", category="dishonest_debtor"),
        fields={"XDR_MC": "被执行测试企业有限公司", "LB_ZXYJ": "（2025）浙0502民初1号"},
        person=PersonRole.LEGAL_REPRESENTATIVE,
        listed_subject="91330502MA0000001X",
    )
    by_domain = {
        domain: decide_check(
            [debtor], domain=domain, catalog=catalog, measures=measures, now=NOW
        ).hits[0]
        for domain in ("high_consumption", "market_regulation", "procurement")
    }
    consumption = by_domain["high_consumption"]
    assert [m.code for m in consumption.measures] == ["M-CONS-01"]
    assert consumption.intercepts
    assert (consumption.person, consumption.listed_subject, consumption.listed_name) == (
        PersonRole.LEGAL_REPRESENTATIVE,
        "91330502MA0000001X",
        "被执行测试企业有限公司",
    )
    # Market regulation applies M-OFFICE-02 (董监高, on persons) but not M-MKT-01 here.
    assert [m.code for m in by_domain["market_regulation"].measures] == ["M-OFFICE-02"]
    # 政府采购 falls on the company, not on its legal representative.
    assert by_domain["procurement"].measures == ()
    assert not by_domain["procurement"].intercepts
    own = decide_check(
        [notice("R2", category="dishonest_debtor")],
        domain="procurement",
        catalog=catalog,
        measures=measures,
        now=NOW,
    ).hits[0]
    assert (own.person, own.listed_subject, own.listed_name) == (None, "", "")


def test_hit_terms_kept_from_check_to_check_answer_as_fresh_ones(
    catalog: Catalog, measures: MeasuresList
) -> None:
    # One HitTerms serves every check of a node: what it keeps must never differ from
    # what a check computed alone would say, whatever came before it.
    terms = HitTerms(measures)
    person = PersonRole.LEGAL_REPRESENTATIVE
    cases = [
        (notice(category=category, status=status), domain)
        for category in ("serious_dishonesty", "dishonest_debtor", "abnormal_operation", "honours")
        for status in ("active", "disputed", "suspended")
        for domain in ("procurement", "licensing", "high_consumption", "market_regulation")
    ]
    cases += [
        (dataclasses.replace(n, person=person, listed_subject="91330502MA0000001X"), domain)
        for n, domain in cases[:24]
    ]
    cases += [
        (notice("P1", category="admin_penalty", severity=severity, status=status), domain)
        for severity in ("minor", "serious")
        for status in ("active", "suspended")
        for domain in ("procurement", "travel")
    ]
    for facts, domain in cases + cases[::-1]:
        kept = decide_check(
            [facts], domain=domain, catalog=catalog, measures=measures, now=NOW, terms=terms
        )
        fresh = decide_check([facts], domain=domain, catalog=catalog, measures=measures, now=NOW)
        assert kept == fresh, (facts, domain)
    # A disputed notice's reason gains a note; the reason kept for the next check does not.
    disputed, active = notice(status="disputed"), notice()
    for facts in (disputed, active, disputed):
        (hit,) = decide_check(
            [facts], domain="procurement", catalog=catalog, measures=measures, now=NOW, terms=terms
        ).hits
        assert hit.reason.endswith("meanwhile") is (facts is disputed)


def test_hit_terms_are_used_only_for_their_own_measures_list_and_categories(
    catalog: Catalog, measures: MeasuresList
) -> None:
    terms = HitTerms(measures)
    found = [notice()]
    first = decide_check(
        found, domain="procurement", catalog=catalog, measures=measures, now=NOW, terms=terms
    )
    assert first.decision is CheckDecision.INTERCEPT
    # Another catalog, whose serious_dishonesty carries no measure: its category is
    # another object, and nothing kept for the first one answers for it.
    plain = dataclasses.replace(catalog.category("serious_dishonesty"), measures=())
    other = dataclasses.replace(catalog, categories={**catalog.categories, plain.code: plain})
    second = decide_check(
        found, domain="procurement", catalog=other, measures=measures, now=NOW, terms=terms
    )
    assert (second.decision, second.hits[0].measures) == (CheckDecision.CLEAR, ())
    # Terms kept for another measures list are not used: the list given decides.
    empty = dataclasses.replace(measures, measures={})
    with pytest.raises(NotFoundError, match="M-PROC-01"):
        decide_check(
            found, domain="procurement", catalog=catalog, measures=empty, now=NOW, terms=terms
        )
