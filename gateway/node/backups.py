"""The operator's backups and restores of a node's store, each an audited event.

A backup's event is appended before the copy, so the backup holds the record
of its own making; a restore's event is appended to the restored log, so the
log says when it was put back and from which file.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from gateway.node.operator import Operator
from gateway.store import Store
from gateway.store.backup import backup_sqlite

__all__ = ["Backups"]


class Backups:
    """Back the node's store up, and record a restore, as the operator."""

    def __init__(
        self, *, node_id: str, store: Store, database_url: str, clock: Callable[[], int]
    ) -> None:
        self._node_id = node_id
        self._store = store
        self._url = database_url
        self._clock = clock

    def backup(self, operator: Operator, target: Path) -> int:
        """Record the backup in the audit log, then copy the store into ``target``.

        Returns:
            The audit log's size in the backup.

        Raises:
            ConfigurationError: the store is not SQLite (PostgreSQL: pg_dump).
            InputError: ``target`` exists.
            StorageError: the database failed.
        """
        self._record(operator, "node.backup", f"backup into {target}")
        size = self._store.audit.size()
        backup_sqlite(self._url, target)
        return size

    def restored(self, operator: Operator, backup: Path) -> int:
        """Record that the store was restored from ``backup``; the log's size now.

        Raises:
            StorageError: the database failed.
        """
        held = self._store.audit.size()
        self._record(operator, "node.restore", f"restored from {backup}: log of {held} events")
        return held + 1

    def _record(self, operator: Operator, action: str, detail: str) -> None:
        self._store.audit.append(
            [
                operator.allowed(
                    self._node_id,
                    time=self._clock(),
                    action=action,
                    detail=detail,
                )
            ]
        )
