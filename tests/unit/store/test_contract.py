"""The store contract: every test runs against SQLite and PostgreSQL alike."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest
from sqlalchemy import event, exc, text

from gateway.core.catalog import PersonRole
from gateway.core.digested import DigestedText
from gateway.core.errors import (
    ConfigurationError,
    InputError,
    NotFoundError,
    ReplayError,
    StorageError,
)
from gateway.core.related_persons import RelatedPerson
from gateway.store import (
    DeliveryRow,
    OutboxEntry,
    OutboxState,
    PutOutcome,
    RecordRepository,
    RecordStatus,
    RevokedRow,
    StatementRow,
    Store,
    make_engine,
    sd_jwt_digest,
)
from gateway.store.engine import KeptWriteConnection, is_sqlite, translating
from tests.unit.store.conftest import NOW, record_row

# ---------------------------------------------------------------- records


def test_put_is_idempotent_by_key_and_detects_conflicts(store: Store) -> None:
    first = record_row("R1")
    assert store.records.put_many([first]) == [PutOutcome.INSERTED]
    assert store.records.put_many([first]) == [PutOutcome.DUPLICATE]
    other_bytes = record_row("R1", body="tampered")
    assert store.records.put_many([other_bytes]) == [PutOutcome.CONFLICT]
    assert store.records.count() == 1
    assert store.records.get("R1", 1).digest == first.digest


def test_put_many_reports_each_row_including_repeats_within_one_call(store: Store) -> None:
    rows = [record_row("A"), record_row("B"), record_row("A"), record_row("A", body="x")]
    assert store.records.put_many(rows) == [
        PutOutcome.INSERTED,
        PutOutcome.INSERTED,
        PutOutcome.DUPLICATE,
        PutOutcome.CONFLICT,
    ]


def test_a_batch_of_held_versions_repeated_is_duplicates_and_a_conflict(store: Store) -> None:
    held = [record_row("H1"), record_row("H2")]
    store.records.put_many(held)
    batch = [record_row("H1"), record_row("H1"), record_row("H2", body="x"), record_row("H2")]
    assert store.records.put_many(batch) == [
        PutOutcome.DUPLICATE,
        PutOutcome.DUPLICATE,
        PutOutcome.CONFLICT,
        PutOutcome.DUPLICATE,
    ]
    assert store.records.count() == 2
    assert [store.records.get(key, 1).digest for key in ("H1", "H2")] == [r.digest for r in held]
    changes = store.changes.after(0, categories={"administrative_penalty"}, until=NOW + 1, limit=10)
    assert [(c.record_id, c.version) for c in changes] == [("H1", 1), ("H2", 1)]


def test_a_batch_mixing_new_and_held_versions_stores_only_the_new_ones_once(
    store: Store,
) -> None:
    held = record_row("M1")
    store.records.put_many([held])
    person = RelatedPerson(key="330102199001011234", role=PersonRole.LEGAL_REPRESENTATIVE)
    new = replace(record_row("M2"), persons=(person,))
    batch = [
        new,
        record_row("M1"),
        record_row("M3", 2),
        record_row("M1", body="x"),
        record_row("M2"),
        record_row("M3", 2, body="x"),
        record_row("M3", 1),
    ]
    assert store.records.put_many(batch) == [
        PutOutcome.INSERTED,
        PutOutcome.DUPLICATE,
        PutOutcome.INSERTED,
        PutOutcome.CONFLICT,
        PutOutcome.DUPLICATE,
        PutOutcome.CONFLICT,
        PutOutcome.INSERTED,
    ]
    assert store.records.count() == 4
    assert store.records.get("M1", 1).digest == held.digest
    assert store.records.get("M3", 2).digest == record_row("M3", 2).digest
    changes = store.changes.after(0, categories={"administrative_penalty"}, until=NOW + 1, limit=10)
    assert [(c.record_id, c.version) for c in changes] == [
        ("M1", 1),
        ("M2", 1),
        ("M3", 2),
        ("M3", 1),
    ]
    named = store.records.list_by_person("330102199001011234", limit=10)
    assert [(role, row.key) for role, row in named] == [
        (PersonRole.LEGAL_REPRESENTATIVE, ("M2", 1))
    ]


def test_a_version_another_writer_stores_during_a_put_fails_the_put_whole(
    store: Store, store_url: str
) -> None:
    """The put reads which keys are held, then inserts the rest: a second writer (not this
    node's store writer) storing one of them in between is not counted as inserted here."""
    if is_sqlite(store.engine):
        pytest.skip("SQLite's write lock, taken at BEGIN IMMEDIATE, keeps a second writer out")
    other = make_engine(store_url)
    raced = record_row("W2", body="theirs")

    def before(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        if statement.startswith("INSERT INTO record ("):
            RecordRepository(other).put_many([raced])

    event.listen(store.engine, "before_cursor_execute", before)
    try:
        with pytest.raises(StorageError, match="another writer stored some of them meanwhile"):
            store.records.put_many([record_row("W1"), record_row("W2")])
    finally:
        event.remove(store.engine, "before_cursor_execute", before)
        other.dispose()
    assert store.records.count() == 1
    assert store.records.get("W2", 1).digest == raced.digest


def test_bulk_put_spans_several_insert_batches(store: Store) -> None:
    rows = [record_row(f"R{i:05d}") for i in range(1_203)]
    assert set(store.records.put_many(rows)) == {PutOutcome.INSERTED}
    assert store.records.count() == 1_203
    assert store.records.put_many(rows[-5:]) == [PutOutcome.DUPLICATE] * 5


def test_put_refuses_a_digest_that_does_not_match_the_sd_jwt(store: Store) -> None:
    wrong = replace(record_row("R1"), digest="0" * 64)
    with pytest.raises(InputError, match="digest of record R1 v1 does not match its sd_jwt"):
        store.records.put_many([wrong])
    assert store.records.count() == 0


def test_a_digested_text_under_another_records_digest_is_refused(store: Store) -> None:
    row = record_row("R1")
    assert row.sd_jwt is not None
    wrong = replace(row, sd_jwt=DigestedText(row.sd_jwt), digest=record_row("R2").digest)
    with pytest.raises(InputError, match="digest of record R1 v1 does not match its sd_jwt"):
        store.records.put_many([wrong])
    assert store.records.count() == 0

    # Given no digest, it is stored under its own, and as the plain text it is.
    digested = replace(row, sd_jwt=DigestedText(row.sd_jwt), digest="")
    assert type(digested.sd_jwt) is str
    assert store.records.put_many([digested]) == [PutOutcome.INSERTED]
    stored = store.records.get("R1", 1)
    assert (stored.digest, stored.sd_jwt) == (row.digest, row.sd_jwt)


def test_rows_refuse_overlong_fields_and_unknown_status() -> None:
    with pytest.raises(InputError, match="record field record_id is 41 characters, over 40"):
        record_row("R" * 41)
    with pytest.raises(InputError, match="unknown record status 'archived'"):
        record_row("R1", status="archived")


def test_get_returns_latest_or_exact_version(store: Store) -> None:
    store.records.put_many([record_row("R1", 1), record_row("R1", 3), record_row("R1", 2)])
    assert store.records.get("R1").version == 3
    assert store.records.get("R1", 2).sd_jwt == record_row("R1", 2).sd_jwt
    assert store.records.get("R1", 2) == record_row("R1", 2)
    assert store.records.latest_version("R1") == 3
    assert store.records.latest_version("R9") is None
    with pytest.raises(NotFoundError, match=r"record R1 \(version 7\) not found"):
        store.records.get("R1", 7)
    with pytest.raises(NotFoundError, match=r"record R9 \(any version\) not found"):
        store.records.get("R9")


def test_get_many_returns_the_stored_versions_by_key_and_leaves_out_the_rest(
    store: Store,
) -> None:
    rows = [record_row(f"R{i:04d}", 1 + i % 3) for i in range(1_203)]
    store.records.put_many(rows)
    wanted = [row.key for row in rows[::2]] + [("R0000", 9), ("R9999", 1), rows[0].key]
    found = store.records.get_many(wanted)
    assert found == {row.key: row for row in rows[::2]}
    assert store.records.get_many([]) == {}
    with store.engine.connect() as conn:
        assert store.records.get_many([rows[1].key], conn=conn) == {rows[1].key: rows[1]}


def test_get_many_returns_only_the_versions_asked_for(store: Store) -> None:
    rows = [record_row("R1", 1), record_row("R1", 2), record_row("R1", 3), record_row("R2", 1)]
    store.records.put_many(rows)
    found = store.records.get_many([("R1", 2), ("R2", 1), ("R2", 2)])
    assert found == {("R1", 2): rows[1], ("R2", 1): rows[3]}
    # A duplicate of one version is told apart from a conflict with another.
    changed = record_row("R1", 3, body="changed")
    assert store.records.put_many([rows[0], changed]) == [
        PutOutcome.DUPLICATE,
        PutOutcome.CONFLICT,
    ]


def test_batch_reads_of_any_size_find_every_version_with_a_few_statement_texts(
    store: Store,
) -> None:
    rows = [record_row(f"K{i:04d}", version) for i in range(1, 1101) for version in (1, 2)]
    assert set(store.records.put_many(rows)) == {PutOutcome.INSERTED}
    texts: set[str] = set()

    @event.listens_for(store.engine, "before_cursor_execute")
    def seen(_conn, _cursor, statement, _params, _context, _many) -> None:  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("SELECT"):
            texts.add(statement)

    try:
        for count in (1, 2, 3, 5, 9, 17, 33, 100, 255, 256, 257, 499, 500, 501, 777, 1100):
            keys = [(f"K{i:04d}", 1) for i in range(1, count + 1)] + [("K9999", 1)]
            found = store.records.get_many(keys)
            assert sorted(found) == sorted(keys[:-1])
            assert all(found[key].digest == record_row(*key).digest for key in keys[:-1])
            again = [record_row(f"K{i:04d}", 2) for i in range(1, count + 1)]
            assert set(store.records.put_many(again)) == {PutOutcome.DUPLICATE}
    finally:
        event.remove(store.engine, "before_cursor_execute", seen)
    # Ids padded to the next power of two up to 500: 1, 2, 4, ..., 256 and 500, for the
    # digest read and the row read each, not one text per list length (16 lengths here).
    assert len(texts) <= 2 * 10
    assert store.records.count() == 2200


def test_list_by_subject_pages_by_key(store: Store) -> None:
    mine = [record_row(f"M{i}", subject_key="91330500MA2B3C4D5E") for i in range(4)]
    mine.append(record_row("M1", 2, subject_key="91330500MA2B3C4D5E"))
    theirs = [record_row(f"T{i}", subject_key="330105198001011234") for i in range(3)]
    store.records.put_many(mine + theirs)
    page1 = store.records.list_by_subject("91330500MA2B3C4D5E", limit=3)
    page2 = store.records.list_by_subject("91330500MA2B3C4D5E", limit=3, after=page1[-1].key)
    assert [r.key for r in page1 + page2] == [
        ("M0", 1), ("M1", 1), ("M1", 2), ("M2", 1), ("M3", 1),
    ]  # fmt: skip
    assert store.records.list_by_subject("", limit=10) == []
    with pytest.raises(InputError, match="page limit must be positive, got 0"):
        store.records.list_by_subject("x", limit=0)


def test_list_by_subject_filters_by_category(store: Store) -> None:
    store.records.put_many([record_row("P1"), record_row("H1", category="red_list")])
    found = store.records.list_by_subject("91330500MA2B3C4D5E", category="red_list")
    assert [r.record_id for r in found] == ["H1"]


def test_about_subject_reads_every_listed_and_the_first_weighed_versions(store: Store) -> None:
    subject = "91330500MA2B3C4D5E"
    store.records.put_many(
        [
            record_row("B2", category="black_list"),
            record_row("B1", category="black_list"),
            record_row("B1", 2, category="black_list"),
            record_row("R1", category="red_list"),
            *(record_row(f"P{i}") for i in (3, 1, 2, 4)),
            record_row("X1", category="black_list", subject_key="330105198001011234"),
            record_row("O1", category="other_list"),
        ]
    )
    found = store.records.about_subject(
        subject,
        every=["red_list", "black_list"],
        first=["administrative_penalty", "black_list", "absent"],
        limit=3,
    )
    assert [(r.category, r.key) for r in found.every] == [
        ("red_list", ("R1", 1)),
        ("black_list", ("B1", 1)), ("black_list", ("B1", 2)), ("black_list", ("B2", 1)),
    ]  # fmt: skip
    assert {c: [r.key for r in rows] for c, rows in found.first.items()} == {
        "administrative_penalty": [("P1", 1), ("P2", 1), ("P3", 1)],
        "black_list": [("B1", 1), ("B1", 2), ("B2", 1)],
        "absent": [],
    }
    # The rows are the stored ones, as the per-category listing reads them.
    assert found.every[1:] == store.records.list_by_subject(subject, category="black_list")
    assert found.first["administrative_penalty"] == store.records.list_by_subject(
        subject, category="administrative_penalty", limit=3
    )


def test_about_subject_without_subject_or_categories_reads_nothing(store: Store) -> None:
    store.records.put_many([record_row("B1", category="black_list")])
    empty = store.records.about_subject("", every=["black_list"], first=["black_list"], limit=5)
    assert (empty.every, empty.first) == ([], {"black_list": []})
    none = store.records.about_subject("91330500MA2B3C4D5E", every=[], first=[], limit=5)
    assert (none.every, none.first) == ([], {})
    only = store.records.about_subject(
        "91330500MA2B3C4D5E", every=["black_list"], first=[], limit=1
    )
    assert [r.key for r in only.every] == [("B1", 1)]
    with pytest.raises(InputError, match="page limit must be positive, got 0"):
        store.records.about_subject("x", every=["a"], first=[], limit=0)


def test_the_reads_of_every_check_are_one_statement_each_and_see_the_last_commit(
    store: Store,
) -> None:
    sent: list[str] = []

    def before(_c: object, _cur: object, statement: str, *_rest: object) -> None:
        sent.append(statement.split(None, 1)[0].upper())

    fingerprint = "ab" * 32
    assert store.revocations.get(fingerprint) is None
    store.revocations.add(RevokedRow(fingerprint, "CN=dept", "left", NOW, "admin@host"))
    store.records.put_many([record_row("B1", category="black_list")])
    event.listen(store.engine, "before_cursor_execute", before)
    try:
        revoked = store.revocations.get(fingerprint)
        found = store.records.about_subject(
            "91330500MA2B3C4D5E", every=["black_list"], first=["administrative_penalty"], limit=5
        )
    finally:
        event.remove(store.engine, "before_cursor_execute", before)
    # No BEGIN or COMMIT around them: each is one statement, its own snapshot.
    assert sent == ["SELECT", "SELECT"]
    assert revoked == RevokedRow(fingerprint, "CN=dept", "left", NOW, "admin@host")
    assert [r.key for r in found.every] == [("B1", 1)]


def test_latest_digests_give_each_records_newest_version_and_content_digest(
    store: Store,
) -> None:
    store.records.put_many(
        [
            replace(record_row("R1", 1), content_digest="a" * 64),
            replace(record_row("R1", 2), content_digest="b" * 64),
            record_row("R2", 1),
        ]
    )
    assert store.records.latest_digests(["R1", "R2", "R3", "R1"]) == {
        "R1": (2, "b" * 64),
        "R2": (1, ""),
    }
    assert store.records.latest_digests([]) == {}


def test_list_uses_keyset_pagination_and_filters(store: Store) -> None:
    rows = [
        record_row("A", 1),
        record_row("A", 2, category="red_list"),
        record_row("B", 1, status="revoked"),
        record_row("C", 1),
        record_row("C", 2),
        record_row("D", 1, category="red_list"),
        record_row("E", 1),
    ]
    store.records.put_many(rows)
    seen: list[tuple[str, int]] = []
    after = None
    while page := store.records.list(limit=3, after=after):
        assert len(page) <= 3
        seen += [r.key for r in page]
        after = page[-1].key
    assert seen == sorted(r.key for r in rows)
    assert [r.key for r in store.records.list(category="red_list")] == [("A", 2), ("D", 1)]
    assert [r.key for r in store.records.list(status="revoked")] == [("B", 1)]
    assert [r.key for r in store.records.list(limit=2, after=("C", 1))] == [("C", 2), ("D", 1)]
    with pytest.raises(InputError, match="page limit must be positive, got 0"):
        store.records.list(limit=0)


def test_set_status_changes_status_and_time(store: Store) -> None:
    store.records.put_many([record_row("R1")])
    store.records.set_status("R1", 1, RecordStatus.SUSPENDED, NOW + 5)
    row = store.records.get("R1")
    assert (row.status, row.status_changed_at) == ("suspended", NOW + 5)
    assert row.sd_jwt == record_row("R1").sd_jwt
    with pytest.raises(NotFoundError, match="record R1 version 2 not found"):
        store.records.set_status("R1", 2, "revoked", NOW)
    with pytest.raises(InputError, match="unknown record status 'gone'"):
        store.records.set_status("R1", 1, "gone", NOW)


def test_purge_leaves_a_tombstone_without_personal_data(store: Store) -> None:
    original = replace(record_row("R1", subject_key="330105198001011234"), content_digest="c" * 64)
    store.records.put_many([original, record_row("R2", subject_key="330105198001011234")])
    store.records.purge("R1", 1, RecordStatus.EXPIRED, NOW + 10)
    tomb = store.records.get("R1", 1)
    assert tomb.is_tombstone
    assert (tomb.sd_jwt, tomb.subject_key, tomb.content_digest) == (None, "", "")
    assert tomb.status == "expired"
    assert tomb.status_changed_at == NOW + 10
    assert tomb.digest == original.digest
    assert [r.record_id for r in store.records.list_by_subject("330105198001011234")] == ["R2"]
    # The digest survives, so a late copy of the purged bytes is still a duplicate.
    assert store.records.put_many([original]) == [PutOutcome.DUPLICATE]
    assert store.records.get("R1", 1).sd_jwt is None
    with pytest.raises(NotFoundError, match="record R3 version 1 not found"):
        store.records.purge("R3", 1, "expired", NOW)


LEGAL_REP = RelatedPerson(PersonRole.LEGAL_REPRESENTATIVE, "330105198001011234")
CONTROLLER = RelatedPerson(PersonRole.ACTUAL_CONTROLLER, "330105198001011234")


def test_the_people_a_record_names_are_indexed_once_and_purged_with_it(store: Store) -> None:
    named = replace(record_row("R1"), persons=(LEGAL_REP, CONTROLLER))
    other = replace(record_row("R2"), persons=(LEGAL_REP,))
    assert store.records.put_many([named, other, record_row("R3")]) == [PutOutcome.INSERTED] * 3
    # A duplicate (a retried push) indexes nothing twice.
    assert store.records.put_many([named]) == [PutOutcome.DUPLICATE]
    found = store.records.list_by_person("330105198001011234")
    assert [(role, row.record_id) for role, row in found] == [
        (PersonRole.ACTUAL_CONTROLLER, "R1"),
        (PersonRole.LEGAL_REPRESENTATIVE, "R1"),
        (PersonRole.LEGAL_REPRESENTATIVE, "R2"),
    ]
    assert found[0][1].sd_jwt == named.sd_jwt
    page = store.records.list_by_person("330105198001011234", limit=1, after=("R1", 1))
    assert [(role, row.record_id) for role, row in page] == [
        (PersonRole.LEGAL_REPRESENTATIVE, "R2")
    ]
    assert store.records.list_by_person("110105194912310029") == []
    assert store.records.list_by_person("") == []
    store.records.purge("R1", 1, RecordStatus.REPAIRED, NOW + 10)
    assert [row.record_id for _, row in store.records.list_by_person(LEGAL_REP.key)] == ["R2"]


def test_expired_before_lists_unpurged_records_oldest_first(store: Store) -> None:
    store.records.put_many(
        [
            record_row("LATE", exp=NOW + 100),
            record_row("OLD", exp=NOW - 500),
            record_row("EDGE", exp=NOW),
            record_row("OLDER", exp=NOW - 900),
            record_row("GONE", exp=NOW - 1000),
        ]
    )
    store.records.purge("GONE", 1, "expired", NOW)
    assert store.records.expired_before(NOW) == [("OLDER", 1), ("OLD", 1)]
    assert store.records.expired_before(NOW + 1, limit=1) == [("OLDER", 1)]
    assert store.records.expired_before(NOW - 2000) == []


# ---------------------------------------------------------------- outbox


def _entries(n: int, recipient: str = "330000") -> list[OutboxEntry]:
    return [OutboxEntry(recipient, "record", f"R{i:03d}", 1) for i in range(n)]


def test_enqueue_is_idempotent(store: Store) -> None:
    assert store.outbox.enqueue_many(_entries(3), now=NOW) == 3
    assert store.outbox.enqueue_many(_entries(4), now=NOW + 1) == 1
    statement = OutboxEntry("330000", "statement", "R000", 1, payload_ref="S1")
    assert store.outbox.enqueue_many([statement, statement], now=NOW) == 1
    assert store.outbox.enqueue_many(_entries(2, recipient="330100"), now=NOW) == 2
    assert store.outbox.pending_count("330000") == 5
    assert store.outbox.pending_count() == 7
    with pytest.raises(InputError, match="unknown outbox kind 'letter'"):
        OutboxEntry("330000", "letter", "R1", 1)


def test_backlog_counts_pending_rows_and_the_oldest_per_recipient(store: Store) -> None:
    assert store.outbox.backlog() == {}
    store.outbox.enqueue_many(_entries(3), now=NOW)
    store.outbox.enqueue_many(_entries(2, recipient="330100"), now=NOW + 5)
    store.outbox.enqueue_many(_entries(5), now=NOW + 9)
    (first, *_) = store.outbox.claim("330000", worker="a", limit=1, now=NOW + 10, lease_s=30)
    store.outbox.mark_delivered([first.id], NOW + 10)
    # Claimed rows are still to deliver; the delivered one is not.
    assert store.outbox.backlog() == {"330000": (4, NOW), "330100": (2, NOW + 5)}


def test_claims_are_exclusive_until_the_lease_runs_out(store: Store) -> None:
    store.outbox.enqueue_many(_entries(5), now=NOW)
    store.outbox.enqueue_many(_entries(2, recipient="330100"), now=NOW)
    a = store.outbox.claim("330000", worker="a", limit=3, now=NOW, lease_s=30)
    b = store.outbox.claim("330000", worker="b", limit=10, now=NOW + 1, lease_s=30)
    assert [i.record_id for i in a] == ["R000", "R001", "R002"]
    assert [i.record_id for i in b] == ["R003", "R004"]
    assert {i.claimed_by for i in a} == {"a"}
    assert {(i.claimed_until, i.attempts) for i in a} == {(NOW + 30, 1)}
    assert store.outbox.claim("330000", worker="c", limit=10, now=NOW + 29, lease_s=30) == []
    # a's lease has run out (a crashed): its rows go to c, b's lease still holds.
    c = store.outbox.claim("330000", worker="c", limit=10, now=NOW + 30, lease_s=30)
    assert [i.id for i in c] == [i.id for i in a]
    assert {i.attempts for i in c} == {2}
    with pytest.raises(InputError, match="claim needs a positive limit and lease, got 0 and 30s"):
        store.outbox.claim("330000", worker="a", limit=0, now=NOW, lease_s=30)


def test_concurrent_workers_never_claim_the_same_item(store: Store) -> None:
    store.outbox.enqueue_many(_entries(200), now=NOW)

    # Every worker claims once before any claims again: a claim is quick enough that one
    # thread could otherwise drain the outbox before the others have started.
    started = threading.Barrier(8)

    def work(worker: str) -> list[int]:
        mine: list[int] = []
        while batch := store.outbox.claim("330000", worker=worker, limit=7, now=NOW, lease_s=60):
            if not mine:
                started.wait(timeout=30)
            mine += [i.id for i in batch]
        return mine

    with ThreadPoolExecutor(max_workers=8) as pool:
        claimed = list(pool.map(work, [f"w{n}" for n in range(8)]))
    every = [i for ids in claimed for i in ids]
    assert len(every) == 200
    assert len(set(every)) == 200
    assert sum(1 for ids in claimed if ids) > 1, "one worker took everything: no contention"


def test_postgres_claim_skips_rows_locked_by_another_transaction(store: Store) -> None:
    if is_sqlite(store.engine):
        pytest.skip("SKIP LOCKED is PostgreSQL's; SQLite claims in one UPDATE under its write lock")
    store.outbox.enqueue_many(_entries(6), now=NOW)
    with store.engine.connect() as first, store.engine.connect() as second:
        with first.begin():
            held = store.outbox.claim(
                "330000", worker="a", limit=4, now=NOW, lease_s=30, conn=first
            )
            # Still uncommitted: without SKIP LOCKED the second claim would wait and time out.
            with second.begin():
                second.execute(text("SET LOCAL lock_timeout = '2s'"))
                other = store.outbox.claim(
                    "330000", worker="b", limit=10, now=NOW, lease_s=30, conn=second
                )
        assert [i.record_id for i in held] == ["R000", "R001", "R002", "R003"]
        assert [i.record_id for i in other] == ["R004", "R005"]


def test_retry_failure_and_delivery_states(store: Store) -> None:
    store.outbox.enqueue_many(_entries(3), now=NOW)
    one, two, three = store.outbox.claim("330000", worker="a", limit=3, now=NOW, lease_s=30)
    store.outbox.mark_retry([one.id], "peer 330000 unavailable", NOW + 60)
    store.outbox.mark_failed([two.id], "scope violation " + "x" * 600)
    store.outbox.mark_delivered([three.id], NOW + 2)

    retried = store.outbox.get(one.id)
    assert (retried.state, retried.next_attempt_at) == ("pending", NOW + 60)
    assert (retried.claimed_by, retried.claimed_until) == (None, None)
    assert retried.last_error == "peer 330000 unavailable"
    failed = store.outbox.get(two.id)
    assert failed.state == OutboxState.FAILED
    assert failed.last_error is not None
    assert len(failed.last_error) == 512
    assert store.outbox.get(three.id).state == OutboxState.DELIVERED
    assert store.outbox.pending_count() == 1

    assert store.outbox.claim("330000", worker="b", limit=10, now=NOW + 59, lease_s=30) == []
    again = store.outbox.claim("330000", worker="b", limit=10, now=NOW + 60, lease_s=30)
    assert [(i.id, i.attempts) for i in again] == [(one.id, 2)]
    with pytest.raises(NotFoundError, match="outbox item 999999 not found"):
        store.outbox.get(999_999)


def test_settling_more_than_one_statement_of_ids_marks_exactly_those(store: Store) -> None:
    store.outbox.enqueue_many(_entries(1203), now=NOW)
    claimed = store.outbox.claim("330000", worker="a", limit=1203, now=NOW, lease_s=30)
    ids = [item.id for item in claimed]
    store.outbox.mark_delivered(ids[:1001], NOW + 5)
    store.outbox.mark_retry(ids[1001:1202], "peer 330000 unavailable", NOW + 60)

    assert store.outbox.pending_count() == 202
    first, last_delivered = store.outbox.get(ids[0]), store.outbox.get(ids[1000])
    for delivered in (first, last_delivered):
        assert (delivered.state, delivered.next_attempt_at) == ("delivered", NOW + 5)
        assert (delivered.claimed_by, delivered.claimed_until, delivered.last_error) == (
            None,
            None,
            None,
        )
    retried = store.outbox.get(ids[1201])
    assert (retried.state, retried.next_attempt_at, retried.claimed_by) == (
        "pending",
        NOW + 60,
        None,
    )
    untouched = store.outbox.get(ids[1202])
    assert (untouched.state, untouched.claimed_by, untouched.attempts) == ("pending", "a", 1)


# ---------------------------------------------------------------- ledger


def test_ledger_lists_holders_and_confirmations(store: Store) -> None:
    store.records.put_many([record_row("R1", 1), record_row("R1", 2), record_row("R2", 1)])
    store.outbox.record_delivery(
        [
            DeliveryRow("R1", 1, "330000", NOW, "active"),
            DeliveryRow("R1", 2, "330000", NOW + 1, "active"),
            DeliveryRow("R1", 1, "000000", NOW + 2, "active"),
            DeliveryRow("R2", 1, "330000", NOW, "active"),
        ]
    )
    store.outbox.confirm("R1", 1, "000000", "active", NOW + 3)
    # Sending a later status again keeps the earlier confirmation on record.
    store.outbox.record_delivery([DeliveryRow("R1", 1, "000000", NOW + 9, "revoked")])
    assert store.outbox.holders("R1") == [
        DeliveryRow("R1", 1, "000000", NOW + 9, "revoked", "active", NOW + 3),
        DeliveryRow("R1", 1, "330000", NOW, "active"),
        DeliveryRow("R1", 2, "330000", NOW + 1, "active"),
    ]
    with pytest.raises(NotFoundError, match="no delivery of record R1 v2 to node 000000"):
        store.outbox.confirm("R1", 2, "000000", "active", NOW)


def test_ledger_refuses_a_version_this_store_does_not_hold(store: Store) -> None:
    with pytest.raises(StorageError, match="recording 1 deliveries failed") as caught:
        store.outbox.record_delivery([DeliveryRow("NOPE", 1, "330000", NOW, "active")])
    assert caught.value.transient is False
    assert isinstance(caught.value.__cause__, exc.IntegrityError)


# ---------------------------------------------------------------- hop batches


def _statement(statement_id: str, record_id: str = "R1") -> StatementRow:
    return StatementRow(statement_id, record_id, 1, "suspension", "330500", NOW, b'{"s":1}')


def test_batch_is_stored_with_its_evidence_records_and_statements(store: Store) -> None:
    envelope = b'{"payloadType":"application/vnd.gateway.batch+json","signatures":[]}'
    outcomes = store.batches.accept_batch(
        "b-0001",
        "330500",
        envelope,
        [record_row("R1"), record_row("R2")],
        [_statement("S1")],
        received_at=NOW,
    )
    assert outcomes == [PutOutcome.INSERTED, PutOutcome.INSERTED]
    batch = store.batches.get("b-0001")
    assert (batch.sender, batch.received_at, batch.item_count) == ("330500", NOW, 3)
    assert batch.envelope == envelope
    assert store.batches.statements("R1") == [_statement("S1")]
    with pytest.raises(NotFoundError, match="hop batch b-0002 not found"):
        store.batches.get("b-0002")


def test_statements_about_record_versions_come_in_issue_order(store: Store) -> None:
    def statement(statement_id: str, record_id: str, version: int, at: int) -> StatementRow:
        return StatementRow(statement_id, record_id, version, "suspension", "330500", at, b"{}")

    held = [
        statement("S3", "R2", 1, NOW + 1),
        statement("S1", "R1", 1, NOW + 2),
        statement("S2", "R1", 2, NOW),
        statement("S4", "R3", 1, NOW),
    ]
    store.batches.accept_batch(
        "b-0001", "330500", b"{}", [record_row("R1"), record_row("R2")], held, received_at=NOW
    )

    about = store.batches.statements_about([("R1", 1), ("R2", 1), ("R9", 1)])

    assert [s.statement_id for s in about] == ["S3", "S1"]
    assert store.batches.statements_about([]) == []


def test_statements_about_more_records_than_one_query_lists_come_whole(store: Store) -> None:
    # 1,100 record ids: two full IN lists of 500 and a last one of 100 (padded to 128).
    held = [
        StatementRow(f"S{i:04d}", f"R{i:04d}", 1 + i % 2, "suspension", "330500", NOW - i, b"{}")
        for i in range(1_100)
    ]
    store.batches.add_statements(held)

    asked = [(s.record_id, s.version) for s in held[::-1]] + [("R9999", 1), ("R0000", 2)]
    about = store.batches.statements_about(asked)

    assert about == held[::-1]


def test_replayed_batch_is_refused_and_stores_nothing(store: Store) -> None:
    store.batches.accept_batch("b-0001", "330500", b"{}", [record_row("R1")], received_at=NOW)
    with pytest.raises(ReplayError, match="hop batch b-0001 from 330500 was already received"):
        store.batches.accept_batch(
            "b-0001",
            "330500",
            b'{"other":1}',
            [record_row("R1"), record_row("R2")],
            [_statement("S9", "R2")],
            received_at=NOW + 1,
        )
    assert store.records.count() == 1
    assert store.batches.statements("R2") == []
    assert store.batches.get("b-0001").envelope == b"{}"


def test_a_batch_replayed_in_a_callers_transaction_stores_nothing_and_leaves_it_usable(
    store: Store,
) -> None:
    store.batches.accept_batch("b-0001", "330500", b"{}", [record_row("R1")], received_at=NOW)
    with store.engine.begin() as conn:
        store.records.put_many([record_row("R7")], conn=conn)
        with pytest.raises(ReplayError, match="hop batch b-0001 from 330500 was already received"):
            store.batches.accept_batch(
                "b-0001",
                "330500",
                b'{"other":1}',
                [record_row("R2")],
                [_statement("S9", "R2")],
                received_at=NOW + 1,
                conn=conn,
            )
        outcomes = store.batches.accept_batch(
            "b-0002",
            "330500",
            b"{}",
            [record_row("R3")],
            [_statement("S3", "R3")],
            received_at=NOW,
            conn=conn,
        )
    assert outcomes == [PutOutcome.INSERTED]
    assert sorted(r.record_id for r in store.records.list()) == ["R1", "R3", "R7"]
    assert store.batches.statements("R2") == []
    assert [s.statement_id for s in store.batches.statements("R3")] == ["S3"]
    assert store.batches.get("b-0001").envelope == b"{}"
    assert store.batches.get("b-0002").item_count == 2


def test_a_failing_batch_leaves_no_evidence_behind(store: Store) -> None:
    broken = replace(record_row("R2"), digest="f" * 64)
    with pytest.raises(InputError, match="digest of record R2 v1 does not match its sd_jwt"):
        store.batches.accept_batch("b-0001", "330500", b"{}", [broken], received_at=NOW)
    with pytest.raises(NotFoundError, match="hop batch b-0001 not found"):
        store.batches.get("b-0001")
    # Not marked as seen, so the sender's corrected retry is accepted.
    outcomes = store.batches.accept_batch(
        "b-0001", "330500", b"{}", [record_row("R2")], received_at=NOW
    )
    assert outcomes == [PutOutcome.INSERTED]


def test_cursor_only_moves_forward(store: Store) -> None:
    assert store.cursors.position("330000", "notices") == 0
    store.cursors.advance("330000", "notices", 10)
    store.cursors.advance("330000", "notices", 5)
    assert store.cursors.position("330000", "notices") == 10
    store.cursors.advance("330000", "notices", 20)
    store.cursors.advance("330000", "statements", 3)
    assert store.cursors.position("330000", "notices") == 20
    assert store.cursors.position("330000", "statements") == 3


# ---------------------------------------------------------------- engine and errors


def test_sqlite_connections_get_durability_settings(store: Store) -> None:
    if not is_sqlite(store.engine):
        pytest.skip("SQLite pragmas")
    with store.engine.connect() as conn:
        settings = {
            name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in (
                "journal_mode",
                "synchronous",
                "foreign_keys",
                "busy_timeout",
                "wal_autocheckpoint",
            )
        }
    assert settings == {
        "journal_mode": "wal",
        "synchronous": 2,
        "foreign_keys": 1,
        "busy_timeout": 10_000,
        "wal_autocheckpoint": 20_000,
    }


def test_the_sqlite_writers_connection_alone_has_the_large_page_cache(store: Store) -> None:
    if not is_sqlite(store.engine):
        pytest.skip("SQLite page cache")
    writers = store.writer.submit(
        lambda conn: conn.exec_driver_sql("PRAGMA cache_size").scalar()
    ).result()
    with store.engine.connect() as conn:
        readers = conn.exec_driver_sql("PRAGMA cache_size").scalar()
    # Negative: KiB. The reader's is SQLite's default (2,000 KiB in the builds we use).
    assert (writers, readers) == (-65_536, -2_000)


def test_the_sqlite_writers_connection_is_not_pooled_when_let_go(store_url: str) -> None:
    if not store_url.startswith("sqlite"):
        pytest.skip("SQLite page cache")
    engine = make_engine(store_url)
    try:
        kept = KeptWriteConnection(engine)
        with kept.transaction("writing") as conn:
            writers = conn.connection.dbapi_connection
        kept.close()
        # The pool holds one connection at most now: the writer's, if it was given back.
        with engine.connect() as conn:
            after = conn.connection.dbapi_connection
            size = conn.exec_driver_sql("PRAGMA cache_size").scalar()
    finally:
        engine.dispose()
    assert after is not writers
    assert size == -2_000


def test_unreachable_database_is_a_transient_storage_error() -> None:
    engine = make_engine("postgresql+psycopg://postgres@127.0.0.1:1/test?connect_timeout=2")
    try:
        with pytest.raises(StorageError, match="counting records failed") as caught:
            RecordRepository(engine).count()
        assert caught.value.transient is True
        assert isinstance(caught.value.__cause__, exc.OperationalError)
    finally:
        engine.dispose()


def test_translation_marks_only_operational_errors_transient() -> None:
    with pytest.raises(StorageError, match="writing x failed: database is locked") as locked:
        with translating("writing x"):
            raise exc.OperationalError("UPDATE x", {}, Exception("database is locked"))
    assert locked.value.transient is True
    with pytest.raises(StorageError, match="writing x failed: UNIQUE constraint") as unique:
        with translating("writing x"):
            raise exc.IntegrityError("INSERT", {}, Exception("UNIQUE constraint failed: x.id"))
    assert unique.value.transient is False


def test_make_engine_refuses_other_backends_and_memory_databases() -> None:
    with pytest.raises(ConfigurationError, match="unsupported database URL scheme 'mysql'"):
        make_engine("mysql://root@localhost/x")
    with pytest.raises(ConfigurationError, match="SQLite store needs a file path"):
        make_engine("sqlite://")


def test_digest_is_sha256_of_the_text() -> None:
    assert sd_jwt_digest("abc") == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )
