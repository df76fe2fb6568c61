"""Driver text sent on a connection's own DBAPI cursor, with SQLAlchemy's error contract.

``Connection.exec_driver_sql`` still builds an execution context and a
``CursorResult`` for every statement: on the store writer's thread, which runs
every check's writes, that was about a third of its Python. :func:`send` and
:func:`send_many` hand the text to a cursor of the connection's DBAPI
connection instead, in the connection's transaction, and give the rows back
as :class:`Rows`.

What SQLAlchemy does around a statement is kept where anything depends on it:

- a driver error is raised as the SQLAlchemy exception SQLAlchemy itself
  would raise for it (:meth:`sqlalchemy.exc.DBAPIError.instance`), so
  :func:`gateway.store.engine.translating` gives the same StorageError and
  ``transient`` flag; on a lost connection the ``Connection`` is invalidated,
  as SQLAlchemy does, and its pool gives a new one to the next checkout;
- a connection outside a transaction begins one first (SQLAlchemy's
  autobegin; on SQLite the engine's begin event decides what to send, and
  sends it with :func:`send_begin`, which does not begin one);
- while the engine has ``before_cursor_execute``, ``after_cursor_execute`` or
  ``handle_error`` listeners (tests that count or look at statements), the
  text goes through ``exec_driver_sql`` as before, so they see every statement.

On PostgreSQL a statement may also be sent *raw* (``raw=True``): its text has
PostgreSQL's own ``$1, $2, ...`` placeholders and its parameters are a
sequence in that order, sent through psycopg's ``RawCursor``. psycopg then
neither parses the text for ``%(name)s`` placeholders on every execution (it
caches that parse only for texts of at most 50 parameters, so an ``IN`` list of
500 was parsed afresh each time) nor reorders a mapping per row of an
``executemany``; the values are adapted exactly as before. A raw text cannot go
through ``exec_driver_sql``: while :func:`observed`, callers send the
dialect's own text instead (:class:`gateway.store.prepared.Prepared` does).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, cast

from psycopg import RawCursor
from sqlalchemy import exc
from sqlalchemy.engine import Connection

__all__ = ["Params", "Rows", "observed", "send", "send_begin", "send_many"]

Params = Sequence[Any] | Mapping[str, Any]
"""One statement's parameters: positional or by name, as the backend's paramstyle wants."""


@dataclass(frozen=True, slots=True)
class Rows:
    """What a statement sent by :func:`send` returned, read whole.

    Attributes:
        rows: the rows, as the driver gave them (empty for a statement without rows).
        rowcount: the rows the statement changed (summed over an ``executemany``),
            as the driver counts them.
    """

    rows: list[Sequence[Any]]
    rowcount: int

    def __iter__(self) -> Iterator[Sequence[Any]]:
        return iter(self.rows)

    def all(self) -> list[Sequence[Any]]:
        """Every row."""
        return self.rows

    def first(self) -> Sequence[Any] | None:
        """The first row, or None if there is none."""
        return self.rows[0] if self.rows else None

    def scalar_one(self) -> Any:
        """The first column of the only row.

        Raises:
            sqlalchemy.exc.NoResultFound: there is no row.
            sqlalchemy.exc.MultipleResultsFound: there is more than one.
        """
        if not self.rows:
            raise exc.NoResultFound("No row was found when one was required")
        if len(self.rows) > 1:
            raise exc.MultipleResultsFound("Multiple rows were found when exactly one was required")
        return self.rows[0][0]


def send(conn: Connection, text: str, params: Params | None = None, *, raw: bool = False) -> Rows:
    """Run ``text`` once on ``conn``, in its transaction.

    ``raw``: ``text`` has PostgreSQL's ``$n`` placeholders and ``params`` is a
    sequence (PostgreSQL only, and never while :func:`observed`).

    Raises:
        sqlalchemy.exc.SQLAlchemyError: the database failed (the same class
            ``exec_driver_sql`` raises; callers translate it with ``translating``).
    """
    if not raw and observed(conn):
        return _rows(conn.exec_driver_sql(text, params))
    return _on_cursor(conn, text, params, many=False, begun=False, raw=raw)


def send_begin(conn: Connection, text: str) -> None:
    """Send the statement that begins ``conn``'s transaction (``BEGIN IMMEDIATE``).

    For the engine's ``begin`` event only: SQLAlchemy runs it before it counts
    the connection as in a transaction, so :func:`send` would begin one again
    (and run the event again). The statement goes to the driver as :func:`send`'s,
    with the same errors.

    Raises:
        sqlalchemy.exc.SQLAlchemyError: the database failed.
    """
    if observed(conn):
        conn.exec_driver_sql(text)
    else:
        _on_cursor(conn, text, None, many=False, begun=True)


def send_many(conn: Connection, text: str, rows: Sequence[Params], *, raw: bool = False) -> Rows:
    """Run ``text`` once per row of parameters (``executemany``), in ``conn``'s transaction.

    ``raw``: as :func:`send`'s (each row a sequence).

    Raises:
        sqlalchemy.exc.SQLAlchemyError: the database failed.
    """
    if not raw and observed(conn):
        return _rows(conn.exec_driver_sql(text, rows))
    return _on_cursor(conn, text, rows, many=True, begun=False, raw=raw)


def observed(conn: Connection) -> bool:
    """True while ``conn``'s engine has listeners that must see every statement.

    Read on every statement: a test adds its listener to an engine already in use.
    The engine's own listener lists are asked, not the connection's (which joins
    them to its own, at ~4x the cost on every statement): nothing here listens on
    one connection.
    """
    dispatch = conn.engine.dispatch
    return bool(
        dispatch.before_cursor_execute
        or dispatch.after_cursor_execute
        or conn.dialect.dispatch.handle_error
    )


def _rows(result: Any) -> Rows:
    return Rows(list(result.all()) if result.returns_rows else [], result.rowcount)


def _on_cursor(
    conn: Connection, text: str, params: Any, *, many: bool, begun: bool, raw: bool = False
) -> Rows:
    if not begun and not conn.in_transaction():
        conn.begin()  # as exec_driver_sql's autobegin: the connection's close rolls it back
    dbapi_conn = conn.connection.dbapi_connection
    assert dbapi_conn is not None  # conn.connection reconnects or raises
    cursor: Any = RawCursor(cast(Any, dbapi_conn)) if raw else dbapi_conn.cursor()
    try:
        if many:
            cursor.executemany(text, params)
        elif params is None:
            cursor.execute(text)
        else:
            cursor.execute(text, params)
        found = list(cursor.fetchall()) if cursor.description is not None else []
    except conn.dialect.loaded_dbapi.Error as error:
        wrapped = _translated(
            conn, error, text, params, dbapi_conn=dbapi_conn, cursor=cursor, many=many
        )
        with suppress(Exception):  # as SQLAlchemy's: the connection may be gone
            cursor.close()
        raise wrapped from error
    count = cursor.rowcount
    cursor.close()
    return Rows(found, count)


def _translated(
    conn: Connection,
    error: Any,
    text: str,
    params: Any,
    *,
    dbapi_conn: Any,
    cursor: Any,
    many: bool,
) -> exc.StatementError:
    # What Connection._handle_dbapi_exception does for a driver error, by public means.
    dialect = conn.dialect
    lost = not conn.invalidated and dialect.is_disconnect(error, dbapi_conn, cursor)
    wrapped: exc.StatementError = exc.DBAPIError.instance(
        text,
        params,
        error,
        dialect.loaded_dbapi.Error,
        hide_parameters=conn.engine.hide_parameters,
        connection_invalidated=lost,
        dialect=dialect,
        ismulti=many,
    )
    if lost:
        conn.invalidate(error)
    return wrapped
