"""Statements of the hot paths, compiled once per backend and run as their driver text.

Executing a Core statement makes SQLAlchemy build its cache key, look the
compiled form up and set up an execution context on every call: on the check
path that cost several times the indexed lookup itself. A :class:`Prepared`
statement is written with the same Core constructs as every other query (so
it is quoted and typed as they are, on both backends), compiled to the
backend's own text on first use, and from then on handed to the driver
directly with ``exec_driver_sql``: errors still come as SQLAlchemy's, and are
translated by :func:`gateway.store.engine.translating` as every other.

Only statements whose columns need no type conversion (text and integers)
belong here: the driver's values are returned as they are.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from sqlalchemy import CursorResult
from sqlalchemy.engine import Connection
from sqlalchemy.sql.compiler import Compiled
from sqlalchemy.sql.elements import ClauseElement

from gateway.core.errors import ConfigurationError

__all__ = ["Prepared"]


class Prepared:
    """One Core statement with named parameters, compiled once per backend.

    Args:
        statement: a statement whose parameters are all ``bindparam`` names
            (or constants); no expanding ``IN`` lists.
    """

    def __init__(self, statement: ClauseElement) -> None:
        self._statement = statement
        self._lock = threading.Lock()
        # Backend name -> (driver text, parameter names in order or None for named, defaults).
        self._compiled: dict[str, tuple[str, tuple[str, ...] | None, dict[str, Any]]] = {}

    def execute(self, conn: Connection, params: Mapping[str, Any]) -> CursorResult[Any]:
        """Run the statement on ``conn`` with ``params`` (by name).

        Raises:
            sqlalchemy.exc.SQLAlchemyError: the database failed (callers run this
                inside :func:`gateway.store.engine.using`, which translates it).
        """
        name = conn.dialect.name
        found = self._compiled.get(name)
        if found is None:
            found = self._compile(conn)
        text, order, defaults = found
        values = {**defaults, **params} if defaults else params
        if order is None:
            return conn.exec_driver_sql(text, dict(values))
        return conn.exec_driver_sql(text, tuple(values[key] for key in order))

    def _compile(self, conn: Connection) -> tuple[str, tuple[str, ...] | None, dict[str, Any]]:
        with self._lock:
            compiled: Compiled = self._statement.compile(dialect=conn.dialect)
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
