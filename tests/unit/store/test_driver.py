"""A connection's own cursor and the writer's kept connection: errors, disconnects, listeners."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import bindparam, event, exc, text
from sqlalchemy.engine import Connection, make_url

from gateway.core.audit import AuditEvent, Decision
from gateway.core.errors import StorageError
from gateway.store import Completion, Store
from gateway.store.engine import is_sqlite, translating, write_tx
from gateway.store.prepared import Prepared
from gateway.store.tables import AUDIT_NODE
from tests.support.postgres import terminate_backend
from tests.support.statements import statements_sent
from tests.unit.store.conftest import occupy_writer

_NODE = Prepared(AUDIT_NODE.insert().values({c.name: bindparam(c.name) for c in AUDIT_NODE.c}))
_DUPLICATE = {
    "sqlite": "UNIQUE constraint failed: audit_node.level, audit_node.idx",
    "postgresql": 'duplicate key value violates unique constraint "audit_node_pkey"',
}


def _duplicate_node_error(store: Store, *, many: bool) -> tuple[StorageError, BaseException]:
    row = {"level": 0, "idx": 7, "hash": b"\x01" * 32}
    with write_tx(store.engine, "storing a node") as conn:
        _NODE.execute(conn, row)

    def again() -> None:
        with write_tx(store.engine, "storing a node") as conn:
            if many:
                _NODE.execute_rows(conn, list(row), [(0, 8, row["hash"]), tuple(row.values())])
            else:
                _NODE.execute(conn, row)

    with pytest.raises(StorageError) as caught:
        again()
    assert caught.value.__cause__ is not None
    return caught.value, caught.value.__cause__


@pytest.mark.parametrize("many", [False, True], ids=["execute", "executemany"])
def test_a_prepared_statement_breaking_a_constraint_fails_as_through_sqlalchemy(
    store: Store, many: bool
) -> None:
    direct, direct_cause = _duplicate_node_error(store, many=many)
    with store.engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM audit_node")
    with statements_sent(store.engine) as seen:
        observed, observed_cause = _duplicate_node_error(store, many=many)
    assert any(s.startswith("INSERT INTO audit_node") for s in seen)

    expected = f"storing a node failed: {_DUPLICATE[store.engine.dialect.name]}"
    assert str(direct).startswith(expected)
    assert (str(direct), direct.transient) == (str(observed), observed.transient)
    assert direct.transient is False
    assert type(direct_cause) is type(observed_cause) is exc.IntegrityError
    assert isinstance(direct_cause, exc.DBAPIError)
    assert direct_cause.connection_invalidated is False
    # Nothing of the failed transaction stayed: only the first row is stored.
    with store.engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT level, idx FROM audit_node").all()
    assert [tuple(r) for r in rows] == [(0, 7)]


def test_a_listener_sees_every_statement_of_a_writer_group(store: Store) -> None:
    release = occupy_writer(store)
    with statements_sent(store.engine) as seen:
        futures = [store.writer.submit(_audit_job(store, f"L{i}")) for i in range(3)]
        release.set()
        assert [f.result(timeout=10) for f in futures] == [None, None, None]
    assert seen.count("SAVEPOINT store_job") == 3
    assert seen.count("RELEASE SAVEPOINT store_job") == 3
    assert sum(s.startswith("INSERT INTO audit_event") for s in seen) == 1
    assert sum(s.startswith("INSERT INTO audit_node") for s in seen) == 1


def _audit_job(store: Store, subject: str) -> Callable[[Connection], None]:
    event_ = AuditEvent(
        time=1_790_000_000,
        node="330500",
        actor="department:330500/intake-office",
        action="records.put",
        decision=Decision.ALLOWED,
        subject=subject,
    )
    return lambda conn: store.audit.append([event_], conn=conn)


def _backend_pid(conn: Connection) -> int:
    return int(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())


def _terminate_own_backend(store_url: str) -> Callable[[Connection], Any]:
    """A job that has its connection's server process ended, then sends a prepared statement."""

    def job(conn: Connection) -> Any:
        terminate_backend(store_url, _backend_pid(conn))
        return _NODE.execute(conn, {"level": 0, "idx": 0, "hash": b"\x02" * 32})

    return job


@pytest.mark.parametrize("group", [1, 4], ids=["alone", "in-a-group"])
def test_a_connection_lost_in_a_writer_group_fails_it_transient_and_the_next_group_works(
    store: Store, store_url: str, group: int
) -> None:
    if is_sqlite(store.engine):
        pytest.skip("a SQLite connection is a file handle: there is no server to lose")
    release = occupy_writer(store)
    futures: list[Completion[Any]] = [store.writer.submit(_terminate_own_backend(store_url))]
    futures += [store.writer.submit(_audit_job(store, f"G{i}")) for i in range(group - 1)]
    release.set()
    for future in futures:
        with pytest.raises(StorageError, match=r"^store write job failed: ") as caught:
            future.result(timeout=30)
        assert caught.value.transient is True
        cause = caught.value.__cause__
        assert isinstance(cause, exc.OperationalError)
        assert cause.connection_invalidated is True
    # Nothing of the lost group was kept, and the next group runs on a new connection.
    assert store.writer.submit(_audit_job(store, "AFTER")).result(timeout=30) is None
    assert [e.event.subject for e in store.audit.events()] == ["AFTER"]


def test_a_statement_outside_a_transaction_begins_one_as_sqlalchemy_does(store: Store) -> None:
    with store.engine.connect() as conn:
        assert not conn.in_transaction()
        with translating("reading"):
            found = Prepared(text("SELECT 1 AS one")).execute(conn, {})
        assert conn.in_transaction()
        assert [tuple(r) for r in found] == [(1,)]
        assert found.first() == found.all()[0]
        assert found.scalar_one() == 1


def test_the_writer_keeps_one_connection_from_group_to_group(store: Store) -> None:
    def connection_id(conn: Connection) -> int:
        return id(conn.connection.dbapi_connection)

    seen = {store.writer.submit(connection_id).result(timeout=10) for _ in range(3)}
    assert len(seen) == 1


def test_a_kept_connection_the_server_dropped_is_replaced_before_the_next_group(
    store: Store, store_url: str
) -> None:
    if is_sqlite(store.engine):
        pytest.skip("a SQLite connection is a file handle: there is no server to lose")
    first = store.writer.submit(_backend_pid).result(timeout=10)
    terminate_backend(store_url, first)
    # Dropped while the writer was idle: the next group pings, reconnects and commits.
    assert store.writer.submit(_audit_job(store, "AFTER")).result(timeout=30) is None
    assert store.writer.submit(_backend_pid).result(timeout=10) != first
    assert [e.event.subject for e in store.audit.events()] == ["AFTER"]


def _locked_write_error(store: Store, store_url: str) -> StorageError:
    """A write transaction begun while another SQLite connection holds the write lock."""
    holder = sqlite3.connect(str(make_url(store_url).database), isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        with pytest.raises(StorageError) as caught, write_tx(store.engine, "writing x"):
            pytest.fail("the write transaction began under another writer's lock")
        holder.execute("ROLLBACK")
    finally:
        holder.close()
    return caught.value


def test_a_begin_immediate_that_cannot_take_the_lock_fails_as_through_sqlalchemy(
    store: Store, store_url: str
) -> None:
    if not is_sqlite(store.engine):
        pytest.skip("PostgreSQL has no BEGIN IMMEDIATE: its writes lock rows, not the database")

    @event.listens_for(store.engine, "connect")
    def _no_wait(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA busy_timeout=0")  # fail at once, not after 10 s

    store.engine.dispose()  # the pooled connections were made with the 10 s timeout
    direct = _locked_write_error(store, store_url)
    with statements_sent(store.engine) as seen:
        observed = _locked_write_error(store, store_url)
    assert "BEGIN IMMEDIATE" in seen

    assert str(direct) == "writing x failed: database is locked"
    assert (str(direct), direct.transient) == (str(observed), observed.transient)
    assert direct.transient is True
    assert type(direct.__cause__) is type(observed.__cause__) is exc.OperationalError
    # The lock released, the same pool's connections write again.
    with write_tx(store.engine, "writing x") as conn:
        conn.exec_driver_sql("DELETE FROM audit_node")
