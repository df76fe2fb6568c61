"""Prepared statements: the same rows sent raw (PostgreSQL's ``$n``, many rows per INSERT)
as through SQLAlchemy."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from sqlalchemy import bindparam, literal, select

from gateway.core.errors import ConfigurationError
from gateway.store import Store
from gateway.store.engine import dialect_insert, read_tx, write_tx
from gateway.store.prepared import Prepared, PreparedIn, _raw
from gateway.store.tables import CURSOR, RECORD_CHANGE
from tests.support.statements import statements_sent
from tests.unit.store.conftest import NOW

# The stream's name is a constant the statement binds itself; a literal percent sign.
_INSERT = Prepared(
    CURSOR.insert().values(
        peer=bindparam("peer"), stream=literal("50%"), position=bindparam("position")
    )
)
# A parameter used twice.
_BETWEEN = Prepared(
    select(CURSOR.c.peer, CURSOR.c.position)
    .where(
        CURSOR.c.position >= bindparam("low"),
        CURSOR.c.position <= bindparam("low") + bindparam("span"),
        CURSOR.c.stream.like("50%%"),
    )
    .order_by(CURSOR.c.peer)
)
_BY_PEER = PreparedIn(
    lambda peers: (
        select(CURSOR.c.peer, CURSOR.c.position)
        .where(CURSOR.c.peer.in_(peers))
        .order_by(CURSOR.c.peer)
    ),
    largest=64,
)


def test_named_placeholders_become_numbered_ones_each_name_once() -> None:
    assert _raw("SELECT %(a)s, %(b)s, %(a)s || '%%' FROM t WHERE x = %(c)s") == (
        "SELECT $1, $2, $1 || '%' FROM t WHERE x = $3",
        ("a", "b", "c"),
    )
    assert _raw("SELECT 1") == ("SELECT 1", ())
    assert _raw("SELECT '%' || %(a)s") is None


def _fill(store: Store, rows: Sequence[tuple[Any, ...]]) -> int:
    with write_tx(store.engine, "storing cursors") as conn:
        return _INSERT.execute_rows(conn, ("position", "peer"), rows)


def _read(store: Store) -> tuple[list[Any], list[Any]]:
    with read_tx(store.engine, "reading cursors") as conn:
        between = [tuple(r) for r in _BETWEEN.execute(conn, {"low": 10, "span": 20}).all()]
        peers = [f"{i:06d}" for i in range(0, 200, 3)]
        by_peer = [tuple(r) for r in _BY_PEER.execute(conn, peers).all()]
    return between, by_peer


@pytest.mark.parametrize("observed", [False, True], ids=["direct", "observed"])
def test_a_prepared_statement_gives_the_same_rows_sent_directly_or_observed(
    store: Store, observed: bool
) -> None:
    rows = [(i, f"{i:06d}") for i in range(100)]
    if observed:
        with statements_sent(store.engine) as seen:
            assert _fill(store, rows) == 100
            between, by_peer = _read(store)
        assert any(s.startswith("INSERT INTO cursor") for s in seen)
    else:
        assert _fill(store, rows) == 100
        between, by_peer = _read(store)
    with read_tx(store.engine, "reading cursors") as conn:
        streams = {s for (s,) in conn.execute(select(CURSOR.c.stream))}
    assert streams == {"50%"}
    assert between == [(f"{i:06d}", i) for i in range(10, 31)]
    assert by_peer == [(f"{i:06d}", i) for i in range(0, 100, 3)]


def test_rows_without_a_parameter_the_statement_needs_are_refused(store: Store) -> None:
    with write_tx(store.engine, "storing cursors") as conn, pytest.raises(ConfigurationError):
        _INSERT.execute_rows(conn, ("peer",), [("000001",)])


_UPSERT_POSITION = Prepared(
    lambda conn: (
        dialect_insert(conn, CURSOR)
        .values(peer=bindparam("peer"), stream=bindparam("stream"), position=bindparam("position"))
        .on_conflict_do_update(
            index_elements=["peer", "stream"], set_={"position": bindparam("position")}
        )
    )
)
_INSERT_NEW = Prepared(
    lambda conn: (
        dialect_insert(conn, CURSOR)
        .values(peer=bindparam("peer"), stream=bindparam("stream"), position=bindparam("position"))
        .on_conflict_do_nothing(index_elements=["peer", "stream"])
    )
)
_CHANGE_NAMES = ("record_id", "version", "category", "status", "changed_at")
_INSERT_CHANGE = Prepared(
    RECORD_CHANGE.insert().values({name: bindparam(name) for name in _CHANGE_NAMES})
)


def test_many_rows_inserted_at_once_are_every_row_in_order(store: Store) -> None:
    # More rows than one multi-row statement holds, and a count that is no power of two.
    rows = [(f"r{i:04d}", 1, "admin_penalty", "active", NOW) for i in range(300, 0, -1)]
    with write_tx(store.engine, "storing changes") as conn:
        assert _INSERT_CHANGE.execute_rows(conn, _CHANGE_NAMES, rows) == 300
    with read_tx(store.engine, "reading changes") as conn:
        found = [rid for (rid,) in conn.execute(select(RECORD_CHANGE.c.record_id).order_by("seq"))]
    assert found == [row[0] for row in rows]


def test_a_row_met_twice_in_one_insert_is_stored_once_and_counted_once(store: Store) -> None:
    names = ("peer", "stream", "position")
    held = [("000001", "records", 1)]
    with write_tx(store.engine, "storing cursors") as conn:
        assert _INSERT_NEW.execute_rows(conn, names, held) == 1
    # 200 rows: a key held already, and keys repeated within the same statement.
    rows = [(f"{i % 150:06d}", "records", i) for i in range(200)]
    with write_tx(store.engine, "storing cursors") as conn:
        assert _INSERT_NEW.execute_rows(conn, names, rows) == 149
    with read_tx(store.engine, "reading cursors") as conn:
        stored = dict(conn.execute(select(CURSOR.c.peer, CURSOR.c.position)).all())
    assert stored == {f"{i:06d}": (1 if i == 1 else i) for i in range(150)}


def test_an_upsert_may_meet_a_row_twice_in_one_call(store: Store) -> None:
    names = ("peer", "stream", "position")
    rows = [("000001", "records", 1), ("000002", "records", 2), ("000001", "records", 3)]
    with write_tx(store.engine, "storing cursors") as conn:
        _UPSERT_POSITION.execute_rows(conn, names, rows)
    with read_tx(store.engine, "reading cursors") as conn:
        stored = dict(conn.execute(select(CURSOR.c.peer, CURSOR.c.position)).all())
    assert stored == {"000001": 3, "000002": 2}
