"""Routed messages as stored: the envelope as received, and when the target handled it."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from dataclasses import dataclass, fields

from sqlalchemy import Connection, Engine, select, update

from gateway.core.errors import NotFoundError
from gateway.store.engine import dialect_insert, using
from gateway.store.tables import MESSAGE

__all__ = ["MessageRepository", "MessageRow"]


@dataclass(frozen=True, slots=True)
class MessageRow:
    message_id: str
    origin: str
    target: str
    kind: str
    created_at: int
    received_at: int
    envelope: bytes
    handled_at: int | None = None


_COLUMNS = tuple(f.name for f in fields(MessageRow))


class MessageRepository:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def add(self, rows: Sequence[MessageRow], *, conn: Connection | None = None) -> list[str]:
        """Store messages; returns the ids that were new (a message may arrive twice).

        Raises:
            StorageError: the database failed.
        """
        if not rows:
            return []
        with using(self._engine, conn, f"storing {len(rows)} messages", write=True) as c:
            stmt = (
                dialect_insert(c, MESSAGE)
                .on_conflict_do_nothing(index_elements=["message_id"])
                .returning(MESSAGE.c.message_id)
            )
            return [
                str(m)
                for m in c.execute(
                    stmt, [{n: getattr(r, n) for n in _COLUMNS} for r in rows]
                ).scalars()
            ]

    def get(self, message_id: str, *, conn: Connection | None = None) -> MessageRow:
        """Raises NotFoundError for an unknown id."""
        query = select(MESSAGE).where(MESSAGE.c.message_id == message_id)
        with using(self._engine, conn, f"reading message {message_id}", write=False) as c:
            found = c.execute(query).mappings().first()
        if found is None:
            raise NotFoundError(f"message {message_id} not found")
        return MessageRow(**{n: found[n] for n in _COLUMNS})

    def mark_handled(self, message_id: str, at: int, *, conn: Connection | None = None) -> None:
        stmt = update(MESSAGE).where(MESSAGE.c.message_id == message_id).values(handled_at=at)
        with using(self._engine, conn, f"marking message {message_id} handled", write=True) as c:
            c.execute(stmt)

    def for_target(
        self, target: str, kind: str | None = None, *, limit: int = 1000
    ) -> builtins.list[MessageRow]:
        """Messages addressed to ``target`` (optionally of one kind), oldest first."""
        query = (
            select(MESSAGE)
            .where(MESSAGE.c.target == target)
            .order_by(MESSAGE.c.created_at, MESSAGE.c.message_id)
            .limit(limit)
        )
        if kind is not None:
            query = query.where(MESSAGE.c.kind == kind)
        with using(self._engine, None, f"listing messages for {target}", write=False) as c:
            return [MessageRow(**{n: m[n] for n in _COLUMNS}) for m in c.execute(query).mappings()]
