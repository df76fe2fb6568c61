"""A store opened for reading refuses writes at the database level, on both backends."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from gateway.core.errors import StorageError
from gateway.store import Store, open_store_reader
from tests.unit.store.conftest import record_row

# What each backend says when a read-only connection is asked to write.
_REFUSED = {
    "sqlite": "attempt to write a readonly database",
    "postgresql": "cannot execute {verb} in a read-only transaction",
}


def test_a_write_through_a_readers_repository_is_refused_and_changes_nothing(
    store_url: str, store: Store
) -> None:
    store.records.put_many([record_row("R-1")])
    reader = open_store_reader(store_url)
    try:
        with pytest.raises(StorageError) as refused:
            reader.records.put_many([record_row("R-2")])
        assert _REFUSED[reader.engine.dialect.name].format(verb="INSERT") in str(refused.value)
        assert reader.records.count() == 1
    finally:
        reader.close()
    assert [row.record_id for row in store.records.list()] == ["R-1"]


def test_a_raw_statement_on_a_readers_engine_is_refused_and_changes_nothing(
    store_url: str, store: Store
) -> None:
    store.records.put_many([record_row("R-1")])
    reader = open_store_reader(store_url)
    try:
        expected = _REFUSED[reader.engine.dialect.name].format(verb="UPDATE")
        with pytest.raises(DBAPIError, match=expected), reader.engine.begin() as conn:
            conn.execute(text("UPDATE record SET status = 'revoked'"))
    finally:
        reader.close()
    assert [row.status for row in store.records.list()] == ["active"]


def test_a_reader_reads_what_the_node_wrote(store_url: str, store: Store) -> None:
    store.records.put_many([record_row("R-1")])
    reader = open_store_reader(store_url)
    try:
        found = reader.records.get("R-1")
    finally:
        reader.close()
    assert found == store.records.get("R-1")
