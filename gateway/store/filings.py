"""Who filed each record issued at this node: one row per record id, from its first version."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, select

from gateway.store.engine import dialect_insert, using
from gateway.store.tables import RECORD_FILING

__all__ = ["Filing", "FilingRepository"]

_CHUNK = 500


@dataclass(frozen=True, slots=True)
class Filing:
    """The department that filed a record: its domain and client name, and when."""

    record_id: str
    domain: str
    client: str
    filed_at: int


class FilingRepository:
    """The record_filing table."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def add_many(self, filings: Sequence[Filing], *, conn: Connection | None = None) -> None:
        """Note who filed records; a record already noted keeps its first filer.

        Raises:
            StorageError: the database failed.
        """
        if not filings:
            return
        with using(self._engine, conn, f"noting {len(filings)} filings", write=True) as c:
            stmt = dialect_insert(c, RECORD_FILING).on_conflict_do_nothing(
                index_elements=["record_id"]
            )
            c.execute(
                stmt,
                [
                    {
                        "record_id": f.record_id,
                        "domain": f.domain,
                        "client": f.client,
                        "filed_at": f.filed_at,
                    }
                    for f in filings
                ],
            )

    def get_many(
        self, record_ids: Sequence[str], *, conn: Connection | None = None
    ) -> dict[str, Filing]:
        """The filing of each of ``record_ids`` that has one.

        Raises:
            StorageError: the database failed.
        """
        found: dict[str, Filing] = {}
        unique = list(dict.fromkeys(record_ids))
        with using(self._engine, conn, "reading filings", write=False) as c:
            for start in range(0, len(unique), _CHUNK):
                chunk = unique[start : start + _CHUNK]
                query = select(RECORD_FILING).where(RECORD_FILING.c.record_id.in_(chunk))
                for m in c.execute(query).mappings():
                    found[m["record_id"]] = Filing(
                        m["record_id"], m["domain"], m["client"], int(m["filed_at"])
                    )
        return found
