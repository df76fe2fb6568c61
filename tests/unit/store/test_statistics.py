"""Planner statistics are refreshed by the node itself, whatever the server's autovacuum does."""

from __future__ import annotations

from sqlalchemy import Connection, text

from gateway.store import PutOutcome, RecordRow, Store
from gateway.store.engine import is_sqlite
from gateway.store.statistics import refresh_statistics
from tests.unit.store.conftest import record_row

_ROWS = 3_000
_ASKED = 50


def _fill(store: Store) -> list[str]:
    ids = [f"R{i:05d}" for i in range(_ROWS)]
    for first in range(0, _ROWS, 500):
        rows = [record_row(i) for i in ids[first : first + 500]]

        def put(conn: Connection, rows: list[RecordRow] = rows) -> list[PutOutcome]:
            return store.records.put_many(rows, conn=conn)

        assert store.writer.submit(put).result() == [PutOutcome.INSERTED] * len(rows)
    return ids


def _batch_lookup_plan(store: Store, ids: list[str]) -> str:
    """PostgreSQL's plan for a batch's key lookup, the shape of get_many and the duplicate check."""
    listed = ", ".join(f"'{i}'" for i in ids)
    query = f"EXPLAIN SELECT record_id, version FROM record WHERE record_id IN ({listed})"
    with store.engine.connect() as conn:
        return "\n".join(str(line) for (line,) in conn.execute(text(query)))


def test_changed_tables_are_analysed_once_and_batch_lookups_use_the_index(store: Store) -> None:
    ids = _fill(store)
    # PostgreSQL's backends report their row counts lazily (at the latest when they exit):
    # closing the writer (it keeps its connection from group to group) and the pooled
    # connections makes the counts of the inserts above visible now.
    store.writer.close()
    store.engine.dispose()
    analysed = refresh_statistics(store.engine)
    if is_sqlite(store.engine):
        assert analysed == []
        return
    assert "record" in analysed
    assert "audit_event" not in analysed  # unchanged: nothing was audited
    with store.engine.connect() as conn:
        count = conn.execute(
            text(
                "SELECT analyze_count FROM pg_stat_user_tables"
                " WHERE schemaname = current_schema() AND relname = 'record'"
            )
        ).scalar_one()
    assert count == 1
    assert refresh_statistics(store.engine) == []  # nothing changed since
    plan = _batch_lookup_plan(store, ids[1_000 : 1_000 + _ASKED])
    assert "Index" in plan, plan
    assert "Seq Scan" not in plan, plan
