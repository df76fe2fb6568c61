"""The record change log on every backend: each stored version and each status change,
in commit order, written in the transaction that made it."""

from __future__ import annotations

import pytest

from gateway.core.errors import NotFoundError
from gateway.store import RecordChange, Store
from tests.unit.store.conftest import NOW, record_row

PENALTY = "administrative_penalty"


def _log(
    store: Store,
    after: int = 0,
    *,
    categories: frozenset[str] = frozenset({PENALTY, "admin_licence"}),
    until: int = NOW + 10_000,
) -> list[tuple[str, int, str, str, int]]:
    changes = store.changes.after(after, categories=categories, until=until, limit=100)
    return [(c.record_id, c.version, c.category, c.status, c.changed_at) for c in changes]


def test_stored_versions_and_status_changes_are_logged_in_order(store: Store) -> None:
    store.records.put_many([record_row("R1", 1), record_row("R2", 1, category="admin_licence")])
    store.records.put_many([record_row("R1", 1)])  # a duplicate is not a change
    store.records.set_status("R1", 1, "suspended", NOW + 5)
    store.records.purge("R2", 1, "expired", NOW + 9)
    assert _log(store) == [
        ("R1", 1, PENALTY, "active", NOW),
        ("R2", 1, "admin_licence", "active", NOW),
        ("R1", 1, PENALTY, "suspended", NOW + 5),
        ("R2", 1, "admin_licence", "expired", NOW + 9),
    ]
    seqs = [c.seq for c in store.changes.after(0, categories={PENALTY}, until=NOW + 99, limit=9)]
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == 2
    assert store.changes.last_seq() >= max(seqs)


def test_the_log_reads_after_a_position_by_category_time_and_limit(store: Store) -> None:
    store.records.put_many([record_row(f"R{i}", 1) for i in range(5)])
    store.records.set_status("R0", 1, "revoked", NOW + 100)
    first = store.changes.after(0, categories={PENALTY}, until=NOW, limit=2)
    assert [c.record_id for c in first] == ["R0", "R1"]
    rest = _log(store, first[-1].seq, until=NOW)
    assert [r[0] for r in rest] == ["R2", "R3", "R4"]  # the revocation is later than `until`
    assert _log(store, categories=frozenset({"admin_licence"})) == []
    assert _log(store, categories=frozenset()) == []
    assert isinstance(first[0], RecordChange)


def test_a_change_to_a_missing_version_is_refused_and_not_logged(store: Store) -> None:
    with pytest.raises(NotFoundError, match="record R9 version 1 not found"):
        store.records.set_status("R9", 1, "revoked", NOW)
    assert store.changes.last_seq() == 0
