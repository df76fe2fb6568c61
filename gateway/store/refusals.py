"""Refused submissions, counted: per CST day, department, category, reason and field."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, func, select

from gateway.store.engine import dialect_insert, using
from gateway.store.tables import INTAKE_REFUSAL_COUNT

__all__ = ["Refusal", "RefusalCount", "RefusalRepository"]

_TEXT = 64


@dataclass(frozen=True, slots=True)
class Refusal:
    """One refused submission: who, what category, why, which field (``""``: none)."""

    day: str
    """The CST date of the refusal (YYYY-MM-DD)."""
    client: str
    domain: str
    category: str
    reason: str
    field: str = ""


@dataclass(frozen=True, slots=True)
class RefusalCount:
    """Refusals of one department, category, reason and field over a period."""

    client: str
    domain: str
    category: str
    reason: str
    field: str
    refused: int


class RefusalRepository:
    """The intake_refusal_count table."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def add_many(self, refusals: Sequence[Refusal], *, conn: Connection | None = None) -> None:
        """Count ``refusals`` in (values longer than a column are cut to fit).

        Raises:
            StorageError: the database failed.
        """
        if not refusals:
            return
        counted = Counter(
            Refusal(
                r.day,
                r.client[:128],
                r.domain[:_TEXT],
                r.category[:_TEXT],
                r.reason[:_TEXT],
                r.field[:_TEXT],
            )
            for r in refusals
        )
        with using(self._engine, conn, f"counting {len(refusals)} refusals", write=True) as c:
            for refusal, n in counted.items():
                insert = dialect_insert(c, INTAKE_REFUSAL_COUNT).values(
                    day=refusal.day,
                    client=refusal.client,
                    domain=refusal.domain,
                    category=refusal.category,
                    reason=refusal.reason,
                    field=refusal.field,
                    refused=n,
                )
                c.execute(
                    insert.on_conflict_do_update(
                        index_elements=["day", "client", "category", "reason", "field"],
                        set_={"refused": INTAKE_REFUSAL_COUNT.c.refused + n},
                    )
                )

    def between(
        self, first_day: str, last_day: str, *, conn: Connection | None = None
    ) -> list[RefusalCount]:
        """Refusals from ``first_day`` to ``last_day`` (inclusive), summed over the days.

        Raises:
            StorageError: the database failed.
        """
        t = INTAKE_REFUSAL_COUNT.c
        query = (
            select(
                t.client,
                func.min(t.domain).label("domain"),
                t.category,
                t.reason,
                t.field,
                func.sum(t.refused).label("refused"),
            )
            .where(t.day >= first_day, t.day <= last_day)
            .group_by(t.client, t.category, t.reason, t.field)
            .order_by(t.client, t.category, t.reason, t.field)
        )
        with using(self._engine, conn, "summing refusals", write=False) as c:
            return [
                RefusalCount(
                    m["client"],
                    m["domain"],
                    m["category"],
                    m["reason"],
                    m["field"],
                    int(m["refused"]),
                )
                for m in c.execute(query).mappings()
            ]
