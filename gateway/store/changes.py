"""The record change log: each record version stored, each status change, in commit order."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, func, select

from gateway.store.engine import using
from gateway.store.tables import RECORD_CHANGE

__all__ = ["RecordChange", "RecordChangeRepository"]


@dataclass(frozen=True, slots=True)
class RecordChange:
    """One row of the log: a version stored (its first status) or a status it took."""

    seq: int
    record_id: str
    version: int
    category: str
    status: str
    changed_at: int


class RecordChangeRepository:
    """The record_change table (written by :class:`~gateway.store.records.RecordRepository`)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def after(
        self,
        seq: int,
        *,
        categories: Collection[str],
        until: int,
        limit: int,
        conn: Connection | None = None,
    ) -> list[RecordChange]:
        """Changes with a ``seq`` above ``seq`` in ``categories``, made at or before ``until``.

        Raises:
            StorageError: the database failed.
        """
        if not categories:
            return []
        t = RECORD_CHANGE.c
        query = (
            select(RECORD_CHANGE)
            .where(t.seq > seq, t.category.in_(sorted(categories)), t.changed_at <= until)
            .order_by(t.seq)
            .limit(limit)
        )
        with using(self._engine, conn, "reading record changes", write=False) as c:
            return [
                RecordChange(
                    seq=int(m["seq"]),
                    record_id=m["record_id"],
                    version=int(m["version"]),
                    category=m["category"],
                    status=m["status"],
                    changed_at=int(m["changed_at"]),
                )
                for m in c.execute(query).mappings()
            ]

    def last_seq(self, *, conn: Connection | None = None) -> int:
        """The newest ``seq`` (0 when the log is empty).

        Raises:
            StorageError: the database failed.
        """
        with using(self._engine, conn, "reading the last record change", write=False) as c:
            return int(
                c.execute(select(func.coalesce(func.max(RECORD_CHANGE.c.seq), 0))).scalar_one()
            )
