"""Filings and refusals on every backend: first filer kept, timeliness summed by
department, each filing with its latest status, refusals counted by day."""

from __future__ import annotations

from gateway.store import DepartmentFilings, FiledRecord, Filing, Refusal, RefusalCount, Store
from tests.unit.store.conftest import NOW, record_row

T0 = 1_780_000_000


def _filing(i: int, client: str, at: int, late: int | None, *, approximate: bool = False) -> Filing:
    return Filing(
        f"330500-{i:032d}",
        client.split("-", maxsplit=1)[0],
        client,
        at,
        category="admin_penalty" if late is not None else "dishonest_debtor",
        decided_on="2026-11-02",
        deadline_on="2026-11-11" if late is not None else None,
        late_working_days=late,
        timeliness_approximate=approximate if late is not None else None,
    )


def test_a_record_keeps_its_first_filing(store: Store) -> None:
    first = _filing(1, "tax-office", T0, 0)
    store.filings.add_many([first])
    store.filings.add_many([_filing(1, "court-office", T0 + 5, 4)])
    assert store.filings.get_many([first.record_id]) == {first.record_id: first}


def test_filings_are_summed_per_department_within_the_period(store: Store) -> None:
    store.filings.add_many(
        [
            _filing(1, "tax-office", T0, 0),
            _filing(2, "tax-office", T0 + 10, 6, approximate=True),
            _filing(3, "tax-office", T0 + 20, 2),
            _filing(4, "court-office", T0 + 30, None),
            _filing(5, "court-office", T0 + 100, 0),  # after the period
            _filing(6, "tax-office", T0 - 1, 9),  # before it
        ]
    )
    assert store.filings.by_department(T0, T0 + 100) == [
        DepartmentFilings("court-office", "court", 1, 0, 0, 0, 0, T0 + 30),
        DepartmentFilings("tax-office", "tax", 3, 1, 2, 6, 1, T0 + 20),
    ]
    assert store.filings.by_department(T0 + 200, T0 + 300) == []


def test_a_filing_is_read_with_its_latest_version_status(store: Store) -> None:
    store.records.put_many(
        [
            record_row("R1", 1),
            record_row("R1", 2, status="revoked"),
            record_row("R2", 1, category="admin_licence"),
        ]
    )
    store.records.purge("R1", 2, "revoked", NOW)
    store.filings.add_many(
        [
            Filing(
                "R1",
                "tax",
                "tax-office",
                T0,
                category="admin_penalty",
                late_working_days=3,
                not_public=True,
            ),
            Filing("R2", "tax", "tax-office", T0 + 1),  # before 0010: no category noted
            Filing("R3", "tax", "tax-office", T0 + 2, category="admin_penalty"),  # not held
        ]
    )
    r2 = store.records.get("R2", 1).sd_jwt
    # A purged version has no SD-JWT left: the filing still says it was marked 不宜公开.
    assert store.filings.with_status(T0, T0 + 10) == [
        FiledRecord(
            "R1", "tax-office", "tax", "admin_penalty", 3, "revoked", NOW + 86_400, None, True
        ),
        FiledRecord(
            "R2", "tax-office", "tax", "admin_licence", None, "active", NOW + 86_400, r2, None
        ),
    ]
    assert store.filings.with_status(T0 + 3, T0 + 10) == []


def test_refusals_are_counted_per_day_and_summed_over_a_period(store: Store) -> None:
    tax = ("tax-office", "tax", "admin_penalty")
    store.refusals.add_many(
        [
            Refusal("2026-11-30", *tax, "invalid field", "CF_JDRQ"),
            Refusal("2026-12-01", *tax, "invalid field", "CF_JDRQ"),
            Refusal("2026-12-01", *tax, "invalid field", "CF_JDRQ"),
            Refusal("2026-12-01", *tax, "malformed"),
        ]
    )
    store.refusals.add_many([Refusal("2026-12-31", *tax, "invalid field", "CF_JDRQ")])
    assert store.refusals.between("2026-12-01", "2026-12-31") == [
        RefusalCount(*tax, "invalid field", "CF_JDRQ", 3),
        RefusalCount(*tax, "malformed", "", 1),
    ]
    assert store.refusals.between("2026-11-01", "2026-11-30") == [
        RefusalCount(*tax, "invalid field", "CF_JDRQ", 1)
    ]
