"""The record_filing table on every backend: first filer kept, timeliness summed by department."""

from __future__ import annotations

from gateway.store import DepartmentFilings, Filing, Store

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
