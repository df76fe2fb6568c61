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

On PostgreSQL the compiled text's ``%(name)s`` placeholders are also rewritten
once, at compile time, into PostgreSQL's own ``$1, $2, ...`` (each name one
number), and the statement is sent raw (:mod:`gateway.store.driver`) with its
values in that order: what psycopg would otherwise redo on every execution
(parse the text, which it does not even cache past 50 parameters, and reorder
a mapping per row of an ``executemany``). While the engine is observed, the
dialect's own text and named values go through ``exec_driver_sql`` as before.

An ``INSERT`` of one row of values (with at most ``ON CONFLICT ... DO NOTHING``
after them) given many rows by :meth:`Prepared.execute_rows` is sent raw as
multi-row ``INSERT ... VALUES (...), (...)`` statements of up to
``_ROWS_PER_INSERT`` rows each, in the rows' order, instead of one statement per
row in a pipeline: PostgreSQL inserts the same rows in the same order (each
row's defaults and sequence values taken in turn, a row in conflict with one
held or one earlier in the same statement skipped, as one row per statement
would be), in the same transaction, and the row counts are summed as the
``executemany``'s are. A ``RETURNING`` the compiler added is left off:
``execute_rows`` returns no rows. ``ON CONFLICT ... DO UPDATE`` keeps its
``executemany`` (one statement may not update a row twice).
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from sqlalchemy import bindparam
from sqlalchemy.engine import Connection
from sqlalchemy.sql.compiler import Compiled
from sqlalchemy.sql.elements import BindParameter, ClauseElement

from gateway.core.errors import ConfigurationError
from gateway.store.driver import Rows, observed, send, send_many

__all__ = ["Prepared", "PreparedIn"]

# A named placeholder of psycopg's paramstyle, or an escaped percent sign.
_PYFORMAT = re.compile(r"%\((\w+)\)s|%%")
# A raw single-row INSERT whose only parameters are its values, in order.
_ONE_ROW_INSERT = re.compile(
    r"(?P<head>INSERT INTO [^$]* VALUES )\((?P<row>[^()]*)\)"
    r"(?P<tail>(?: ON CONFLICT [^$]* DO NOTHING)?)(?: RETURNING [^$]*)?",
    re.DOTALL,
)
_PLACEHOLDER = re.compile(r"\$(\d+)")
_ROWS_PER_INSERT = 128
"""Most rows in one multi-row INSERT (its parameters well under PostgreSQL's 65,535)."""


class _MultiRow:
    """A raw one-row ``INSERT`` written for several rows at once, a text per row count."""

    def __init__(self, head: str, row: str, tail: str, width: int) -> None:
        self._head = head
        self._row = row
        self._tail = tail
        self.width = width
        self._texts: dict[int, str] = {}
        self._lock = threading.Lock()

    @classmethod
    def of(cls, raw: str, width: int) -> _MultiRow | None:
        """``raw``'s multi-row form, or None if it is not one row of its own ``width`` values."""
        match = _ONE_ROW_INSERT.fullmatch(raw)
        if match is None or width == 0:
            return None
        numbers = [int(n) for n in _PLACEHOLDER.findall(match["row"])]
        if numbers != list(range(1, width + 1)):
            return None
        return cls(match["head"], match["row"], match["tail"], width)

    def text(self, count: int) -> str:
        """The statement inserting ``count`` rows, their values numbered row after row."""
        found = self._texts.get(count)
        if found is None:
            with self._lock:
                rows = ", ".join(f"({self._numbered(i * self.width)})" for i in range(count))
                found = self._texts[count] = f"{self._head}{rows}{self._tail}"
        return found

    def _numbered(self, shift: int) -> str:
        return _PLACEHOLDER.sub(lambda match: f"${int(match.group(1)) + shift}", self._row)

    def counts(self, total: int) -> list[int]:
        """Row counts of the statements for ``total`` rows: full ones, then powers of two
        (a few texts cover every total)."""
        most = max(1, min(_ROWS_PER_INSERT, 65_535 // self.width))
        found = [most] * (total // most)
        rest = total % most
        size = 1 << max(rest.bit_length() - 1, 0)
        while rest:
            if size <= rest:
                found.append(size)
                rest -= size
            size >>= 1
        return found


class _Compiled(NamedTuple):
    text: str
    """The dialect's own text."""
    order: tuple[str, ...] | None
    """Parameter names in ``text``'s positional order, or None where they go by name."""
    defaults: dict[str, Any]
    """Constants the statement binds itself."""
    raw: tuple[str, tuple[str, ...]] | None
    """PostgreSQL: the text with ``$n`` placeholders and the names in their order."""
    multi: _MultiRow | None
    """PostgreSQL: ``raw`` for many rows at once, where it is a one-row INSERT."""


def _raw(text: str) -> tuple[str, tuple[str, ...]] | None:
    """``text`` (psycopg's ``%(name)s`` paramstyle) with ``$n`` placeholders, and the names.

    None where the text has a ``%`` that is neither (not expected of a compiled statement).
    """
    names: dict[str, int] = {}

    def number(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return "%"
        return f"${names.setdefault(name, len(names) + 1)}"

    converted = _PYFORMAT.sub(number, text)
    if "%" in _PYFORMAT.sub("", text):
        return None
    return converted, tuple(names)


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
        # Backend name -> its compiled form.
        self._compiled: dict[str, _Compiled] = {}

    def execute(self, conn: Connection, params: Mapping[str, Any]) -> Rows:
        """Run the statement on ``conn`` with ``params`` (by name).

        Raises:
            sqlalchemy.exc.SQLAlchemyError: the database failed (callers run this
                inside :func:`gateway.store.engine.using`, which translates it).
        """
        text, order, defaults, raw, _ = self._compiled.get(conn.dialect.name) or self._compile(conn)
        values = {**defaults, **params} if defaults else params
        if raw is not None and not observed(conn):
            return send(conn, raw[0], tuple(values[key] for key in raw[1]), raw=True)
        if order is None:
            return send(conn, text, dict(values))
        return send(conn, text, tuple(values[key] for key in order))

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
        text, order, defaults, raw, multi = self._compiled.get(conn.dialect.name) or self._compile(
            conn
        )
        if raw is not None and not observed(conn):
            positional = _positional(raw[1], names, rows, defaults, text)
            if multi is None:
                return send_many(conn, raw[0], positional, raw=True).rowcount
            changed = 0
            start = 0
            for count in multi.counts(len(positional)):
                end = start + count
                flat = [value for row in positional[start:end] for value in row]
                changed += send(conn, multi.text(count), flat, raw=True).rowcount
                start = end
            return changed
        if order is None:
            params: Sequence[Sequence[Any]] | list[dict[str, Any]] = [
                {**defaults, **dict(zip(names, row, strict=True))} for row in rows
            ]
        else:
            params = _positional(order, names, rows, defaults, text)
        return send_many(conn, text, params).rowcount

    def _compile(self, conn: Connection) -> _Compiled:
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
            raw = (
                _raw(text)
                if conn.dialect.name == "postgresql"
                and conn.dialect.driver == "psycopg"
                and conn.dialect.paramstyle == "pyformat"
                else None
            )
            found = _Compiled(
                text,
                tuple(order) if order is not None else None,
                defaults,
                raw,
                _MultiRow.of(raw[0], len(raw[1])) if raw is not None else None,
            )
            self._compiled[conn.dialect.name] = found
            return found


def _positional(
    order: tuple[str, ...],
    names: Sequence[str],
    rows: Sequence[Sequence[Any]],
    defaults: Mapping[str, Any],
    text: str,
) -> Sequence[Sequence[Any]]:
    """``rows`` (values in ``names`` order) as values in ``order``, a constant from ``defaults``.

    Raises:
        ConfigurationError: a parameter of ``order`` is neither in ``names`` nor in ``defaults``.
    """
    if order == tuple(names):
        return rows if isinstance(rows, list) else list(rows)
    missing = [key for key in order if key not in names and key not in defaults]
    if missing:
        raise ConfigurationError(f"no values given for parameters {missing}: {text}")
    if all(key in names for key in order):
        pick = [names.index(key) for key in order]
        return [tuple(row[i] for i in pick) for row in rows]
    index = {name: i for i, name in enumerate(names)}
    return [
        tuple(row[index[key]] if key in index else defaults[key] for key in order) for row in rows
    ]


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
