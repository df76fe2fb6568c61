"""Statements of the hot paths, compiled once per backend and run as their driver text.

Executing a Core statement makes SQLAlchemy build its cache key, look the
compiled form up and set up an execution context on every call: on the check
path that cost several times the indexed lookup itself. A :class:`Prepared`
statement is written with the same Core constructs as every other query (so
it is quoted and typed as they are, on both backends), compiled to the
backend's own text on first use, and from then on handed to the driver
directly (:mod:`gateway.store.driver`: the connection's DBAPI cursor, without
SQLAlchemy's execution context): errors still come as SQLAlchemy's, and are
translated by :func:`gateway.store.engine.translating` as every other.

Only statements whose columns need no type conversion (text, integers, bytes)
belong here: the driver's values are returned as they are.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import bindparam
from sqlalchemy.engine import Connection
from sqlalchemy.sql.compiler import Compiled
from sqlalchemy.sql.elements import BindParameter, ClauseElement

from gateway.core.errors import ConfigurationError
from gateway.store.driver import Rows, send, send_many

__all__ = ["Prepared", "PreparedIn"]


class Prepared:
    """One Core statement with named parameters, compiled once per backend.

    Args:
        statement: a statement whose parameters are all ``bindparam`` names
            (or constants); no expanding ``IN`` lists. Or a function building it
            for a connection's backend (e.g. an ``INSERT ... ON CONFLICT``),
            called once per backend.
    """

    def __init__(self, statement: ClauseElement | Callable[[Connection], ClauseElement]) -> None:
        self._statement = statement
        self._lock = threading.Lock()
        # Backend name -> (driver text, parameter names in order or None for named, defaults).
        self._compiled: dict[str, tuple[str, tuple[str, ...] | None, dict[str, Any]]] = {}

    def execute(self, conn: Connection, params: Mapping[str, Any]) -> Rows:
        """Run the statement on ``conn`` with ``params`` (by name).

        Raises:
            sqlalchemy.exc.SQLAlchemyError: the database failed (callers run this
                inside :func:`gateway.store.engine.using`, which translates it).
        """
        text, order, defaults = self._compiled.get(conn.dialect.name) or self._compile(conn)
        values = {**defaults, **params} if defaults else params
        if order is None:
            return send(conn, text, dict(values))
        return send(conn, text, tuple(values[key] for key in order))

    def execute_many(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Run the statement once per row of ``rows`` (the driver's ``executemany``).

        Raises:
            sqlalchemy.exc.SQLAlchemyError: the database failed.
        """
        if not rows:
            return
        text, order, defaults = self._compiled.get(conn.dialect.name) or self._compile(conn)
        if order is None:
            send_many(conn, text, [{**defaults, **row} for row in rows])
        else:
            send_many(
                conn, text, [tuple({**defaults, **row}[key] for key in order) for row in rows]
            )

    def execute_rows(
        self, conn: Connection, names: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> int:
        """Run the statement once per row of ``rows``, each given as values in ``names`` order.

        The driver's ``executemany`` of tuples, without a mapping per row where the
        backend's parameters are positional in the same order (SQLite's, for an
        ``INSERT`` of ``names`` as the table lists them).

        Returns:
            The number of rows the statement changed, summed over ``rows``.

        Raises:
            ConfigurationError: the statement has a parameter not in ``names``.
            sqlalchemy.exc.SQLAlchemyError: the database failed.
        """
        if not rows:
            return 0
        text, order, defaults = self._compiled.get(conn.dialect.name) or self._compile(conn)
        params: Sequence[Sequence[Any]] | list[dict[str, Any]]
        if order is None:
            params = [{**defaults, **dict(zip(names, row, strict=True))} for row in rows]
        elif order == tuple(names):
            params = rows if isinstance(rows, list) else list(rows)
        else:
            missing = [key for key in order if key not in names]
            if missing:
                raise ConfigurationError(f"no values given for parameters {missing}: {text}")
            pick = [names.index(key) for key in order]
            params = [tuple(row[i] for i in pick) for row in rows]
        return send_many(conn, text, params).rowcount

    def _compile(self, conn: Connection) -> tuple[str, tuple[str, ...] | None, dict[str, Any]]:
        with self._lock:
            statement = self._statement
            if not isinstance(statement, ClauseElement):
                statement = statement(conn)
            compiled: Compiled = statement.compile(dialect=conn.dialect)
            text = compiled.string
            if "POSTCOMPILE" in text:
                raise ConfigurationError(
                    "a prepared statement may not hold expanding parameters: " + text
                )
            order = compiled.positiontup if compiled.positional else None  # type: ignore[attr-defined]
            defaults = {k: v for k, v in compiled.params.items() if v is not None}
            found = (text, tuple(order) if order is not None else None, defaults)
            self._compiled[conn.dialect.name] = found
            return found


class PreparedIn:
    """A Core statement with one ``IN`` list of values, compiled once per list size.

    An expanding ``IN`` makes SQLAlchemy render the statement afresh on every
    call. Here the list is cut into chunks of at most ``largest`` values, each
    chunk padded with its last value up to the next power of two (or to
    ``largest``): a value repeated in an ``IN`` list changes nothing, and a few
    sizes cover every list, each a :class:`Prepared` statement.

    Args:
        build: builds the statement from the list's parameters (put them in an ``in_``).
        largest: the most values in one statement (under both backends' bound-parameter limits).
    """

    def __init__(
        self, build: Callable[[list[BindParameter[Any]]], ClauseElement], *, largest: int
    ) -> None:
        self._build = build
        self._largest = largest
        self._sizes: dict[int, Prepared] = {}
        self._lock = threading.Lock()

    def execute(
        self, conn: Connection, values: Sequence[Any], params: Mapping[str, Any] | None = None
    ) -> Rows:
        """Run the statement for ``values`` (in chunks), with the other ``params`` by name.

        Returns:
            Every chunk's rows, in chunk order, and their row counts summed.

        Raises:
            sqlalchemy.exc.SQLAlchemyError: the database failed.
        """
        found: list[Sequence[Any]] = []
        count = 0
        for start in range(0, len(values), self._largest):
            chunk = list(values[start : start + self._largest])
            size = self._size(len(chunk))
            chunk.extend([chunk[-1]] * (size - len(chunk)))
            named = dict(params) if params else {}
            named.update(zip(_in_names(size), chunk, strict=True))
            rows = self._statement(size).execute(conn, named)
            found.extend(rows.rows)
            count += rows.rowcount
        return Rows(found, count)

    def _size(self, count: int) -> int:
        size = 1
        while size < count:
            size *= 2
        return min(size, self._largest)

    def _statement(self, size: int) -> Prepared:
        found = self._sizes.get(size)
        if found is None:
            with self._lock:
                found = self._sizes.get(size)
                if found is None:
                    parameters: list[BindParameter[Any]] = [
                        bindparam(name) for name in _in_names(size)
                    ]
                    found = self._sizes[size] = Prepared(self._build(parameters))
        return found


@functools.lru_cache(maxsize=64)
def _in_names(size: int) -> tuple[str, ...]:
    return tuple(f"in_{i}" for i in range(size))
