"""The office's duties at one node: 双公示 timeliness at intake, and the monthly
timeliness and quality reports (in-process harness).

The calendar here makes every day a working day, so the expected figures are
plain day counts; the official calendar's 调休 is tested in
tests/unit/core/test_working_days.py.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.core.errors import InputError
from gateway.core.principal import Principal, Role
from gateway.core.publication import EntryKind
from gateway.core.records import CHINA_STANDARD_TIME
from gateway.core.statements import StatusKind
from gateway.core.working_days import Lateness
from gateway.node.catalog_files import load_packaged_catalog
from gateway.node.config import FederationSettings
from gateway.node.intake import IntakeOutcome, Submission
from gateway.node.quality import quality_report
from gateway.node.quality_metrics import QualityCollector
from gateway.node.timeliness import Month, timeliness_report
from gateway.store import DepartmentFilings
from tests.support.federation import Keystore
from tests.support.harness import (
    InProcessFederation,
    department,
    keystore_for,
    migrated_template,
)
from tests.support.publication import SETTLE_S, all_entries, feed_of
from tests.support.records import debtor_fields, penalty_fields

NATIONAL, ZHEJIANG, HUZHOU = "000000", "330000", "330500"
NODES = (NATIONAL, ZHEJIANG, HUZHOU)
COURT = Principal(Role.DEPARTMENT, HUZHOU, "court-office", "court", "1" * 64, "in-process")


class EveryDayWorks:
    """A calendar without days off, that knows every day for sure."""

    def is_working_day(self, day: dt.date) -> bool:
        return True

    def covers(self, day: dt.date) -> bool:
        return True


@pytest.fixture(scope="module")
def keystore(tmp_path_factory: pytest.TempPathFactory) -> Keystore:
    return keystore_for(tmp_path_factory.mktemp("keys"), NODES)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return migrated_template(tmp_path_factory.mktemp("template"))


@pytest.fixture
def fed(tmp_path: Path, keystore: Keystore, template: Path) -> Iterator[InProcessFederation]:
    federation = InProcessFederation.build(
        tmp_path,
        keystore,
        NODES,
        settings=FederationSettings(),
        template=template,
        calendar=EveryDayWorks(),
    )
    try:
        yield federation
    finally:
        federation.close()


def _today(fed: InProcessFederation) -> dt.date:
    return dt.datetime.fromtimestamp(fed.clock(), CHINA_STANDARD_TIME).date()


def test_a_penalty_reported_within_seven_working_days_is_on_time(
    fed: InProcessFederation,
) -> None:
    today = _today(fed)
    [result] = fed[HUZHOU].submit(
        [Submission("1", "admin_penalty", penalty_fields(1, decided=today - dt.timedelta(days=7)))]
    )
    assert result.outcome is IntakeOutcome.ACCEPTED
    assert result.lateness == Lateness(today, 0, False)


def test_a_late_penalty_is_stored_and_flagged_with_its_delay(fed: InProcessFederation) -> None:
    today = _today(fed)
    decided = today - dt.timedelta(days=20)
    [result] = fed[HUZHOU].submit(
        [Submission("1", "admin_penalty", penalty_fields(2, decided=decided))]
    )
    assert result.outcome is IntakeOutcome.ACCEPTED
    assert result.lateness == Lateness(decided + dt.timedelta(days=7), 13, False)
    assert fed[HUZHOU].store.records.get(result.record_id, 1).status == "active"
    filing = fed[HUZHOU].store.filings.get_many([result.record_id])[result.record_id]
    assert (filing.category, filing.decided_on, filing.late_working_days) == (
        "admin_penalty",
        decided.isoformat(),
        13,
    )


def test_a_list_entry_has_no_per_record_deadline(fed: InProcessFederation) -> None:
    decided = _today(fed) - dt.timedelta(days=40)
    [result] = fed[HUZHOU].submit(
        [Submission("1", "dishonest_debtor", debtor_fields(1, decided=decided))], COURT
    )
    assert result.outcome is IntakeOutcome.ACCEPTED
    assert result.lateness is None


def test_the_report_sums_each_department_and_names_who_did_not_submit(
    fed: InProcessFederation,
) -> None:
    today = _today(fed)
    node = fed[HUZHOU]
    node.submit(
        [
            Submission("1", "admin_penalty", penalty_fields(1, decided=today)),
            Submission(
                "2", "admin_penalty", penalty_fields(2, decided=today - dt.timedelta(days=10))
            ),
            Submission(
                "3", "admin_penalty", penalty_fields(3, decided=today - dt.timedelta(days=30))
            ),
        ]
    )
    node.submit([Submission("1", "dishonest_debtor", debtor_fields(1, decided=today))], COURT)
    # A new version is not a new filing: the first one's timeliness stands.
    node.submit(
        [
            Submission(
                "1",
                "admin_penalty",
                {**penalty_fields(1, decided=today), "CF_NR": "罚款人民币二十万元"},
            )
        ]
    )
    now = int(fed.clock())
    found = timeliness_report(
        node.store, Month.of(now), ("court-office", "procurement-office", "tax-office")
    )
    assert found.departments == (
        DepartmentFilings("court-office", "court", 1, 0, 0, 0, 0, now),
        DepartmentFilings("procurement-office", "procurement", 3, 1, 2, 23, 0, now),
    )
    assert found.silent == ("tax-office",)
    assert found.late == 2
    last_month = Month.of(Month.of(now).bounds()[0] - 1)
    assert timeliness_report(node.store, last_month, ("tax-office",)).departments == ()


def test_a_month_is_parsed_strictly() -> None:
    assert str(Month.parse("2026-02")) == "2026-02"
    assert Month.parse("2026-12").bounds()[1] == Month.parse("2027-01").bounds()[0]
    for bad in ("2026-13", "2026-2", "26-02", "2026-00", "1969-12"):
        with pytest.raises(InputError, match="is not of the form YYYY-MM"):
            Month.parse(bad)


def test_the_quality_report_counts_each_department_and_category(
    fed: InProcessFederation,
) -> None:
    today = _today(fed)
    node = fed[HUZHOU]
    good = [
        Submission(str(i), "admin_penalty", penalty_fields(i, decided=today - dt.timedelta(days=d)))
        for i, d in ((1, 0), (2, 1), (3, 30))
    ]
    bad_date = Submission(
        "4", "admin_penalty", {**penalty_fields(4, decided=today), "CF_JDRQ": "2026-02-30"}
    )
    unknown = Submission("5", "no_such_category", {"XDR_MC": "x"})
    results = node.submit([*good, bad_date, unknown])
    assert [r.outcome for r in results] == [IntakeOutcome.ACCEPTED] * 3 + [
        IntakeOutcome.REFUSED
    ] * 2
    # The court files a listing; procurement tries to file one too (not its list).
    node.submit([Submission("1", "dishonest_debtor", debtor_fields(1, decided=today))], COURT)
    node.submit([Submission("1", "dishonest_debtor", debtor_fields(2, decided=today))])
    # Procurement revokes its second penalty: withdrawn from publication.
    node.federation.statuses.issue(
        department(HUZHOU),
        kind=StatusKind.REVOCATION,
        record_id=results[1].record_id,
        version=1,
        reason="撤销处罚决定",
    )
    found = quality_report(
        node.store,
        load_packaged_catalog(HUZHOU),
        Month.of(int(fed.clock())),
        ("court-office", "procurement-office", "tax-office"),
        now=int(fed.clock()),
    )
    by_key = {(r.client, r.category): r for r in found.rows}
    assert sorted(by_key) == [
        ("court-office", "dishonest_debtor"),
        ("procurement-office", "(unknown)"),
        ("procurement-office", "admin_penalty"),
        ("procurement-office", "dishonest_debtor"),
    ]
    penalties = by_key[("procurement-office", "admin_penalty")]
    assert (
        penalties.received,
        penalties.stored,
        penalties.refused,
        penalties.late,
        penalties.published,
        penalties.withdrawn,
        penalties.published_on_time,
    ) == (4, 3, 1, 1, 2, 1, 2)
    assert penalties.refused_by_reason == {"invalid field": 1}
    assert penalties.refused_by_field == {"CF_JDRQ": 1}
    assert by_key[("procurement-office", "(unknown)")].refused_by_reason == {"invalid record": 1}
    not_filer = by_key[("procurement-office", "dishonest_debtor")]
    assert (not_filer.stored, not_filer.refused) == (0, 1)
    assert not_filer.refused_by_reason == {"intake:filing-domain": 1}
    listing = by_key[("court-office", "dishonest_debtor")]
    assert (listing.stored, listing.published, listing.late) == (1, 1, 0)
    assert found.reported == ("court-office", "procurement-office")
    assert found.coverage == 2 / 3
    # Publishable: 3 penalties and the listing; on time: 2 penalties and the listing.
    assert found.publication_rate == 3 / 4


def test_records_marked_not_public_are_counted_withheld_never_published_as_the_feed_shows(
    fed: InProcessFederation,
) -> None:
    today = _today(fed)
    node = fed[HUZHOU]
    secret = "涉及国家秘密，依法不予公开"
    shown, withheld, late_withheld, revoked = node.submit(
        [
            Submission("1", "admin_penalty", penalty_fields(1, decided=today)),
            Submission("2", "admin_penalty", penalty_fields(2, decided=today), not_public=secret),
            Submission(
                "3",
                "admin_penalty",
                penalty_fields(3, decided=today - dt.timedelta(days=30)),
                not_public=secret,
            ),
            Submission("4", "admin_penalty", penalty_fields(4, decided=today), not_public=secret),
        ]
    )
    assert {r.outcome for r in (shown, withheld, late_withheld, revoked)} == {
        IntakeOutcome.ACCEPTED
    }
    node.federation.statuses.issue(
        department(HUZHOU),
        kind=StatusKind.REVOCATION,
        record_id=revoked.record_id,
        version=1,
        reason="撤销处罚决定",
    )
    fed.clock.advance(SETTLE_S)

    found = quality_report(
        node.store,
        load_packaged_catalog(HUZHOU),
        Month.of(int(fed.clock())),
        ("procurement-office",),
        now=int(fed.clock()),
    )
    [row] = found.rows
    assert (
        row.stored,
        row.late,
        row.publishable,
        row.published,
        row.withheld,
        row.withdrawn,
        row.published_on_time,
    ) == (4, 1, 4, 1, 2, 1, 1)
    # 公示率: only the one record the public sees was published (on time), of four.
    assert found.publication_rate == 1 / 4
    # The feed agrees: it publishes that one record, and withdraws the revoked one.
    entries = all_entries(feed_of(fed, HUZHOU))
    assert [(e.kind, e.record_id) for e in entries] == [
        (EntryKind.PUBLISH, shown.record_id),
        (EntryKind.WITHDRAW, revoked.record_id),
    ]
    collector = QualityCollector(
        store=node.store,
        catalog=load_packaged_catalog(HUZHOU),
        expected=("procurement-office",),
        clock=fed.clock,
    )
    records, _coverage, publication = collector.collect()
    figures = {s.labels["figure"]: s.value for s in records.samples}
    assert (figures["published"], figures["withheld"], figures["withdrawn"]) == (1, 2, 1)
    assert [s.value for s in publication.samples] == [0.25]


def test_the_month_figures_are_gauges_on_the_metrics(fed: InProcessFederation) -> None:
    today = _today(fed)
    node = fed[HUZHOU]
    node.submit(
        [
            Submission("1", "admin_penalty", penalty_fields(1, decided=today)),
            Submission(
                "2", "admin_penalty", penalty_fields(2, decided=today - dt.timedelta(days=9))
            ),
        ]
    )
    collector = QualityCollector(
        store=node.store,
        catalog=load_packaged_catalog(HUZHOU),
        expected=("procurement-office", "tax-office"),
        clock=fed.clock,
    )
    records, coverage, publication = collector.collect()
    assert {tuple(s.labels.values()): s.value for s in records.samples} == {
        ("procurement-office", "admin_penalty", "received"): 2,
        ("procurement-office", "admin_penalty", "stored"): 2,
        ("procurement-office", "admin_penalty", "refused"): 0,
        ("procurement-office", "admin_penalty", "late"): 1,
        ("procurement-office", "admin_penalty", "published"): 2,
        ("procurement-office", "admin_penalty", "withheld"): 0,
        ("procurement-office", "admin_penalty", "withdrawn"): 0,
    }
    assert [s.value for s in coverage.samples] == [0.5]
    assert [s.value for s in publication.samples] == [0.5]
