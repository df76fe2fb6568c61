"""The store's per-batch reads search indexes; none of them scans a growing table.

A full scan per batch makes a node's work per record grow with everything it
has stored (a quadratic step over its life). Each test captures the queries
one repository call sends to SQLite and asks SQLite for their query plans: no
plan may read the whole of a table that grows with the node, or sort a backlog.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event

from gateway.core.audit import AuditEvent, Decision
from gateway.core.catalog import PersonRole
from gateway.core.related_persons import RelatedPerson
from gateway.store import OutboxEntry, Store, open_store
from tests.unit.store.conftest import NOW, record_row

# "SCAN record" reads every row; "SEARCH record USING INDEX ..." does not.
_FULL_SCAN = re.compile(r"^(SCAN (record|audit_node|audit_event|outbox)\b|USE TEMP B-TREE)")


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(f"sqlite:///{tmp_path / 'node.db'}")
    try:
        yield opened
    finally:
        opened.close()


@contextmanager
def _selects(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    seen: list[tuple[str, Any]] = []

    def before(
        _conn: object, _cursor: object, statement: str, parameters: Any, _ctx: object, many: bool
    ) -> None:
        if not many and statement.lstrip().upper().startswith(("SELECT", "UPDATE", "WITH")):
            seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", before)


def _plans(store: Store, call: Callable[[], object]) -> list[tuple[str, list[str]]]:
    with _selects(store.engine) as seen:
        call()
    assert seen, "the call sent no query at all"
    plans = []
    with store.engine.connect() as conn:
        for statement, parameters in seen:
            rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
            plans.append((statement, [str(row[3]) for row in rows]))
    return plans


def _full_scans(plans: list[tuple[str, list[str]]]) -> list[str]:
    return [
        f"{detail} in: {statement}"
        for statement, details in plans
        for detail in details
        if _FULL_SCAN.match(detail)
    ]


def test_get_many_searches_the_record_index(sqlite_store: Store) -> None:
    rows = [record_row(f"R{i:04d}", 1 + i % 2) for i in range(300)]
    sqlite_store.records.put_many(rows)
    plans = _plans(sqlite_store, lambda: sqlite_store.records.get_many([r.key for r in rows]))
    assert _full_scans(plans) == []
    assert any("SEARCH record USING" in d for _s, details in plans for d in details)


def test_latest_digests_search_the_record_index(sqlite_store: Store) -> None:
    rows = [record_row(f"R{i:04d}", 1 + i % 3) for i in range(300)]
    sqlite_store.records.put_many(rows)
    ids = [row.record_id for row in rows] + ["R9999"]
    latest: dict[str, tuple[int, str]] = {}
    plans = _plans(sqlite_store, lambda: latest.update(sqlite_store.records.latest_digests(ids)))
    assert _full_scans(plans) == []
    assert len(latest) == 300
    assert latest["R0002"][0] == 3


def test_telling_duplicates_from_conflicts_searches_the_record_index(
    sqlite_store: Store,
) -> None:
    rows = [record_row(f"R{i:04d}") for i in range(300)]
    sqlite_store.records.put_many(rows)
    again = rows[:150] + [record_row(f"R{i:04d}", body="changed") for i in range(150, 300)]
    plans = _plans(sqlite_store, lambda: sqlite_store.records.put_many(again))
    assert _full_scans(plans) == []


def test_audit_appends_and_proofs_read_nodes_by_key(sqlite_store: Store) -> None:
    event_ = AuditEvent(
        time=NOW, node="330500", actor="client:a", action="records.get", decision=Decision.ALLOWED
    )
    sqlite_store.audit.append([event_] * 1_000)
    appended = _plans(sqlite_store, lambda: sqlite_store.audit.append([event_]))
    proved = _plans(sqlite_store, lambda: sqlite_store.audit.inclusion_proof(17, 1_001))
    assert _full_scans(appended + proved) == []
    assert any("audit_node USING" in d for _s, details in proved for d in details)


def test_outbox_claims_and_due_recipients_do_not_read_the_backlog(sqlite_store: Store) -> None:
    outbox = sqlite_store.outbox
    for recipient in ("330000", "330100", "330200"):
        entries = [OutboxEntry(recipient, "record", f"R{i:05d}", 1) for i in range(2_000)]
        outbox.enqueue_many(entries, now=NOW)
    delivered = outbox.claim("330100", worker="w", limit=500, now=NOW, lease_s=30)
    outbox.mark_delivered([item.id for item in delivered], NOW)
    claimed: list[object] = []
    plans = _plans(
        sqlite_store,
        lambda: claimed.extend(outbox.claim("330000", worker="w", limit=500, now=NOW, lease_s=30)),
    )
    plans += _plans(sqlite_store, lambda: outbox.due_recipients(NOW))
    assert _full_scans(plans) == []
    assert len(claimed) == 500
    assert outbox.due_recipients(NOW) == ["330000", "330100", "330200"]
    # Every row of 330000 leased or delivered: it is no longer due, the others are.
    rest = outbox.claim("330000", worker="w", limit=2_000, now=NOW, lease_s=30)
    assert len(rest) == 1_500
    assert outbox.due_recipients(NOW) == ["330100", "330200"]
    assert outbox.due_recipients(NOW + 31) == ["330000", "330100", "330200"]


def test_pages_of_a_subject_are_index_ranges_after_the_last_key(sqlite_store: Store) -> None:
    subject = "91330500MA2B3C4D5E"
    rows = [record_row(f"R{i:04d}", category=("a", "b")[i % 2]) for i in range(300)]
    sqlite_store.records.put_many(rows)
    records = sqlite_store.records
    plans = _plans(sqlite_store, lambda: records.list_by_subject(subject, after=("R0100", 1)))
    plans += _plans(
        sqlite_store, lambda: records.list_by_subject(subject, category="b", after=("R0100", 1))
    )
    assert [details for _statement, details in plans] == [
        [
            "SEARCH record USING INDEX ix_record_subject "
            "(subject_key=? AND (record_id,version)>(?,?))"
        ],
        [
            "SEARCH record USING INDEX ix_record_subject_category "
            "(subject_key=? AND category=? AND (record_id,version)>(?,?))"
        ],
    ]


def test_a_checks_read_of_a_subject_is_index_ranges_of_its_categories(
    sqlite_store: Store,
) -> None:
    rows = [record_row(f"R{i:04d}", category=("a", "b", "c")[i % 3]) for i in range(300)]
    sqlite_store.records.put_many(rows)
    records = sqlite_store.records
    plans = _plans(
        sqlite_store,
        lambda: records.about_subject(
            "91330500MA2B3C4D5E", every=["a", "b"], first=["c"], limit=51
        ),
    )
    assert len(plans) == 1
    assert _full_scans(plans) == []
    details = plans[0][1]
    assert sum("USING INDEX ix_record_subject_category" in d for d in details) == 2, details


def test_a_persons_listings_are_an_index_range_of_the_person_index(sqlite_store: Store) -> None:
    person = RelatedPerson(PersonRole.LEGAL_REPRESENTATIVE, "330105198001011234")
    rows = [
        replace(record_row(f"R{i:04d}"), persons=(person,) if i % 3 else ()) for i in range(300)
    ]
    sqlite_store.records.put_many(rows)
    records = sqlite_store.records
    plans = _plans(sqlite_store, lambda: records.list_by_person(person.key, after=("R0100", 1)))
    details = [detail for _statement, found in plans for detail in found]
    assert not [d for d in details if re.match(r"^(SCAN (record|record_person)\b|USE TEMP)", d)]
    assert any(d.startswith("SEARCH record_person USING ") for d in details), details
