"""Probes of a store's health: its files writable, its database reachable, its schema current.

Used at start (a node refuses to open a store it cannot write) and by the
node's readiness checks. Every failure is a :class:`StorageError` naming what
is wrong: the file, the database error, or the two schema revisions.
"""

from __future__ import annotations

import os
from pathlib import Path

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from gateway.core.errors import StorageError
from gateway.store.engine import read_tx
from gateway.store.migrate import alembic_config

__all__ = ["check_files_writable", "check_schema_current", "schema_revision", "sqlite_files"]

# SQLite keeps these beside the database file in WAL mode.
_COMPANIONS = ("-wal", "-shm")


def sqlite_files(url: str) -> tuple[Path, ...]:
    """The database file of a SQLite URL and its WAL companions; nothing for PostgreSQL."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return ()
    database = Path(parsed.database)
    return (database, *(database.with_name(database.name + suffix) for suffix in _COMPANIONS))


def check_files_writable(url: str) -> None:
    """Refuse a SQLite store whose files or folder this process cannot write.

    SQLite maps the ``-shm`` file into memory: a write to that mapping once the
    file cannot be written kills the process with SIGBUS, with no exception and
    no log line. So this is checked before the store is opened, and by the
    readiness checks while it runs. ``os.access`` is used rather than opening
    the files: closing any descriptor of a SQLite file drops the locks the
    process holds on it. It also sees the immutable attribute, which stops root.

    Raises:
        StorageError: naming the first file (or folder) that cannot be written.
    """
    files = sqlite_files(url)
    if not files:
        return
    folder = files[0].parent
    if not os.access(folder, os.W_OK | os.X_OK):
        raise StorageError(f"SQLite folder {folder} is not writable", transient=False)
    for path in files:
        if path.exists() and not os.access(path, os.R_OK | os.W_OK):
            raise StorageError(f"SQLite file {path} is not writable", transient=False)


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
    heads = frozenset(ScriptDirectory.from_config(alembic_config()).get_heads())
    current = schema_revision(engine)
    if current != heads:
        raise StorageError(
            f"database schema is at {sorted(current) or 'no revision'},"
            f" the code needs {sorted(heads)}",
            transient=False,
        )
