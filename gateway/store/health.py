"""Probes of a store's health: its files writable, its database reachable, its schema current.

Used at start (a node refuses to open a store it cannot write) and by the
node's readiness checks. Every failure is a :class:`StorageError` naming what
is wrong: the file, the database error, or the two schema revisions.
"""

from __future__ import annotations

from functools import cache

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from gateway.core.errors import StorageError
from gateway.store.engine import check_files_writable, read_tx, sqlite_files
from gateway.store.migrate import alembic_config

__all__ = [
    "check_files_writable",
    "check_revision_current",
    "check_schema_current",
    "code_heads",
    "schema_revision",
    "sqlite_files",
]


def schema_revision(engine: Engine) -> frozenset[str]:
    """The schema revision the database records (a read that reaches the database itself).

    Raises:
        StorageError: the database cannot be read.
    """
    with read_tx(engine, "reading the schema revision") as conn:
        return frozenset(MigrationContext.configure(conn).get_current_heads())


def check_schema_current(engine: Engine) -> None:
    """The database's schema is at the code's newest migration.

    Raises:
        StorageError: the database cannot be read (transient), or its schema is
            at another revision than the code's (not transient: migrate first).
    """
    check_revision_current(schema_revision(engine))


@cache
def code_heads() -> frozenset[str]:
    """The newest migration revisions the code ships, read once per process.

    The migration files cannot change under a running process, and reading
    them builds Alembic's script directory, importing every migration file:
    the readiness monitor would do that every few seconds.
    """
    return frozenset(ScriptDirectory.from_config(alembic_config()).get_heads())


def check_revision_current(current: frozenset[str]) -> None:
    """A schema revision read from a database is the code's newest migration.

    Raises:
        StorageError: it is another revision (not transient: migrate first).
    """
    heads = code_heads()
    if current != heads:
        raise StorageError(
            f"database schema is at {sorted(current) or 'no revision'},"
            f" the code needs {sorted(heads)}",
            transient=False,
        )
