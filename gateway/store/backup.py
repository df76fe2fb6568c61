"""Whole-database copies of a SQLite store, made with SQLite's online backup API.

The backup API copies a consistent snapshot page by page while the node keeps
serving (it restarts the copy if a writer changes a page under it), so a backup
needs no downtime. A restore copies a backup over the node's database the same
way; the node must be stopped, as its connections would see the file change
under them. PostgreSQL stores are copied with ``pg_dump`` / ``pg_restore``
(see the README), which the database already does better than a copy here.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from gateway.core.errors import ConfigurationError, InputError, StorageError
from gateway.store.engine import sqlite_files

__all__ = ["backup_sqlite", "restore_sqlite"]

_PG_HINT = "back a PostgreSQL store up with pg_dump -Fc and restore it with pg_restore"


def _database(url: str) -> Path:
    files = sqlite_files(url)
    if not files:
        raise ConfigurationError(f"this node's store is not a SQLite file: {_PG_HINT}")
    return files[0]


def backup_sqlite(url: str, target: Path) -> None:
    """Copy the SQLite store at ``url`` into the new file ``target``, online.

    Raises:
        ConfigurationError: the store is not SQLite.
        InputError: ``target`` already exists.
        StorageError: SQLite failed (the partial ``target`` is removed).
    """
    source = _database(url)
    if target.exists():
        raise InputError(f"{target} already exists: back up into a new file")
    try:
        with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(target)) as dst:
            src.backup(dst)
    except sqlite3.Error as exc:
        target.unlink(missing_ok=True)
        raise StorageError(f"backing {source} up into {target} failed: {exc}") from exc


def restore_sqlite(backup: Path, url: str) -> None:
    """Copy the backup file ``backup`` over the SQLite store at ``url`` (node stopped).

    The backup is checked first (SQLite's quick check, and an audit log in it),
    so a wrong or damaged file never replaces the store.

    Raises:
        ConfigurationError: the store is not SQLite.
        InputError: ``backup`` is missing, damaged, or not a gateway store.
        StorageError: SQLite failed while copying.
    """
    target = _database(url)
    if not backup.is_file():
        raise InputError(f"no backup file {backup}")
    try:
        with closing(sqlite3.connect(f"file:{backup}?mode=ro", uri=True)) as src:
            checked = src.execute("PRAGMA quick_check").fetchone()
            has_log = src.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'audit_event'"
            ).fetchone()
            if checked != ("ok",) or has_log is None:
                raise InputError(f"{backup} is not an intact gateway store")
            with closing(sqlite3.connect(target)) as dst:
                src.backup(dst)
    except sqlite3.OperationalError as exc:
        raise StorageError(f"restoring {backup} into {target} failed: {exc}") from exc
    except sqlite3.DatabaseError as exc:
        raise InputError(f"{backup} is not an intact gateway store: {exc}") from exc
