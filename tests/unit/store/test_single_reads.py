"""Reads of one statement on a connection kept per thread (the revocation lookup, the subject read).

Every call of the check path reads this node's revocations and the subject's
records; each thread keeps one connection for those reads. What must hold: a
commit is seen by the very next read on the same thread (no read transaction
is left open between reads), a connection the server dropped does not fail the
reads that follow, at most the pool's size of connections are kept, and
closing the store closes every one of them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import event, exc, text
from sqlalchemy.engine import Connection

from gateway.core.errors import StorageError
from gateway.store import RevokedRow, Store, open_store
from gateway.store.engine import is_sqlite, single_reads
from gateway.store.prepared import Prepared
from tests.support.postgres import terminate_backend
from tests.unit.store.conftest import NOW

_FINGERPRINT = "ab" * 32
_PID = Prepared(text("SELECT pg_backend_pid()"))


def _revoked() -> RevokedRow:
    return RevokedRow(
        fingerprint=_FINGERPRINT,
        subject="CN=department",
        reason="key lost",
        revoked_at=NOW,
        revoked_by="operator",
    )


def _checkouts(store: Store) -> list[tuple[int, Any]]:
    """(thread ident, DBAPI connection) of every pool checkout from now on."""
    seen: list[tuple[int, Any]] = []

    def on_checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        seen.append((threading.get_ident(), dbapi_connection))

    event.listen(store.engine, "checkout", on_checkout)
    return seen


def _in_transaction(store: Store, dbapi_connection: Any) -> bool:
    if is_sqlite(store.engine):
        return bool(dbapi_connection.in_transaction)
    from psycopg.pq import TransactionStatus

    return bool(dbapi_connection.info.transaction_status != TransactionStatus.IDLE)


def _in_thread(fn: Callable[[], Any]) -> Any:
    got: list[Any] = []
    thread = threading.Thread(target=lambda: got.append(fn()))
    thread.start()
    thread.join(30)
    assert got, "the thread's read failed"
    return got[0]


def test_a_thread_keeps_one_read_connection_from_read_to_read(store: Store) -> None:
    checkouts = _checkouts(store)
    for _ in range(3):
        assert store.revocations.get(_FINGERPRINT) is None
        assert store.records.about_subject("S", every=["a"], first=[], limit=1).every == []
    assert len(checkouts) == 1
    # Another thread keeps one of its own.
    _in_thread(lambda: store.revocations.get(_FINGERPRINT))
    assert len(checkouts) == 2
    assert checkouts[0][1] is not checkouts[1][1]


def test_a_revocation_the_writer_commits_is_seen_by_the_next_read_on_the_same_thread(
    store: Store, store_url: str
) -> None:
    checkouts = _checkouts(store)
    assert store.revocations.get(_FINGERPRINT) is None
    (kept,) = checkouts
    # No read transaction left open between reads (it would keep reading the old snapshot).
    assert not _in_transaction(store, kept[1])
    store.writer.submit(lambda conn: store.revocations.add(_revoked(), conn=conn)).result(10)
    assert store.revocations.get(_FINGERPRINT) == _revoked()
    assert not _in_transaction(store, kept[1])
    # Committed by another store on the database (``gateway pki revoke``'s): seen as well.
    other = replace(_revoked(), fingerprint="cd" * 32)
    assert store.revocations.get(other.fingerprint) is None
    second = open_store(store_url)
    try:
        assert second.revocations.add(other) is True
    finally:
        second.close()
    assert store.revocations.get(other.fingerprint) == other
    assert not _in_transaction(store, kept[1])
    mine = [c for thread, c in checkouts if thread == threading.get_ident()]
    assert mine == [kept[1]], "a read was not on the kept connection"


def _pid(conn: Connection) -> int:
    return int(_PID.execute(conn, {}).scalar_one())


def test_a_read_connection_the_server_dropped_is_replaced_and_the_read_succeeds(
    store: Store,
) -> None:
    if is_sqlite(store.engine):
        pytest.skip("a SQLite connection is a file handle: there is no server to lose")
    reads = single_reads(store.engine)
    first = reads.run("reading a pid", _pid)
    terminate_backend(store.engine.url, first)
    # Dropped while the thread was not reading: the read is sent again on a new connection.
    assert store.revocations.get(_FINGERPRINT) is None
    second = reads.run("reading a pid", _pid)
    assert second != first
    assert reads.run("reading a pid", _pid) == second


def test_a_read_connection_lost_under_the_read_fails_it_transient_and_the_next_read_works(
    store: Store,
) -> None:
    if is_sqlite(store.engine):
        pytest.skip("a SQLite connection is a file handle: there is no server to lose")
    reads = single_reads(store.engine)
    reads.run("reading a pid", _pid)  # the thread keeps a connection
    tries: list[int] = []

    def lose_own(conn: Connection) -> Any:
        tries.append(_pid(conn))
        terminate_backend(store.engine.url, tries[-1])
        return _pid(conn)

    with pytest.raises(StorageError, match=r"^reading after a loss failed: ") as caught:
        reads.run("reading after a loss", lose_own)
    assert caught.value.transient is True
    cause = caught.value.__cause__
    assert isinstance(cause, exc.OperationalError)
    assert cause.connection_invalidated is True
    # Read again once, on a new connection (it may have been dropped before the read),
    # and not more: that one was lost under the read itself.
    assert len(tries) == 2
    assert tries[0] != tries[1]
    assert store.revocations.get(_FINGERPRINT) is None
    assert reads.run("reading a pid", _pid) not in tries


def _opened(store: Store) -> list[Any]:
    """Every DBAPI connection the store's engine opens from now on."""
    opened: list[Any] = []
    event.listen(store.engine, "connect", lambda dbapi, _record: opened.append(dbapi))
    return opened


def _closed(store: Store, dbapi_connection: Any) -> bool:
    if not is_sqlite(store.engine):
        return bool(dbapi_connection.closed)
    try:
        dbapi_connection.execute("SELECT 1")
    except Exception:  # noqa: BLE001  # sqlite3 refuses a closed connection
        return True
    return False


def test_closing_the_store_closes_every_kept_read_connection(store: Store) -> None:
    store.engine.dispose()  # the migration's connections: only this test's are counted
    opened = _opened(store)
    assert store.revocations.get(_FINGERPRINT) is None
    readers = 3
    together = threading.Barrier(readers)

    def read() -> None:
        store.revocations.get(_FINGERPRINT)
        together.wait(30)  # alive together: each keeps a connection of its own

    threads = [threading.Thread(target=read) for _ in range(readers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(opened) == 1 + readers
    store.close()
    assert [_closed(store, c) for c in opened] == [True] * len(opened)


def test_at_most_the_pools_size_of_connections_are_kept_and_ended_threads_make_room(
    store: Store,
) -> None:
    pool: Any = store.engine.pool
    size = pool.size()
    checkouts = _checkouts(store)
    baseline = pool.checkedout()
    threads = size + 2
    started = threading.Barrier(threads)
    results: list[Any] = []
    errors: list[BaseException] = []

    def read_twice() -> None:
        started.wait(30)  # all alive together
        try:
            results.append(store.revocations.get(_FINGERPRINT))
            results.append(store.revocations.get(_FINGERPRINT))
        except BaseException as error:  # noqa: BLE001  # reported below
            errors.append(error)
        started.wait(30)  # none ends before every one has read

    workers = [threading.Thread(target=read_twice) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert errors == []
    assert results == [None] * (2 * threads)
    # The pool's size kept (one checkout each), the two beyond it one checkout per read.
    assert len(checkouts) == size + 2 * 2
    assert pool.checkedout() == baseline + size
    # Those threads ended: a new thread's read finds room and keeps its connection.
    before = len(checkouts)
    _in_thread(lambda: (store.revocations.get(_FINGERPRINT), store.revocations.get(_FINGERPRINT)))
    assert len(checkouts) == before + 1
