"""Who filed each record issued at this node, and how timely: one row per record id.

Written with a record's first version. For categories with a reporting
deadline (双公示: 7 working days) the row also holds the decision date, the
deadline and how many working days late the filing was, which the office's
timeliness report sums per department.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, case, func, select

from gateway.store.engine import dialect_insert, using
from gateway.store.tables import RECORD, RECORD_FILING

__all__ = ["DepartmentFilings", "FiledRecord", "Filing", "FilingRepository"]

_CHUNK = 500


@dataclass(frozen=True, slots=True)
class Filing:
    """The department that filed a record: its domain and client name, and when."""

    record_id: str
    domain: str
    client: str
    filed_at: int
    category: str | None = None
    decided_on: str | None = None
    deadline_on: str | None = None
    late_working_days: int | None = None
    timeliness_approximate: bool | None = None
    not_public: bool | None = None
    """The first version is marked 不宜公开 (None: not known, rows before 0018)."""


@dataclass(frozen=True, slots=True)
class DepartmentFilings:
    """One department's filings in a period, with their timeliness.

    ``on_time`` and ``late`` count only filings with a reporting deadline.
    """

    client: str
    domain: str
    records: int
    on_time: int
    late: int
    worst_late_working_days: int
    approximate: int
    last_filed_at: int


@dataclass(frozen=True, slots=True)
class FiledRecord:
    """A filed record with its latest version's status, for the quality report."""

    record_id: str
    client: str
    domain: str
    category: str
    late_working_days: int | None
    status: str
    exp: int
    sd_jwt: str | None = None
    """The latest version's SD-JWT as stored (None once purged): its signed claims."""
    filed_not_public: bool | None = None
    """The first version was marked 不宜公开 (None: not known), for when it is purged."""


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
                        "category": f.category,
                        "decided_on": f.decided_on,
                        "deadline_on": f.deadline_on,
                        "late_working_days": f.late_working_days,
                        "not_public": f.not_public,
                        "timeliness_approximate": f.timeliness_approximate,
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
                        m["record_id"],
                        m["domain"],
                        m["client"],
                        int(m["filed_at"]),
                        m["category"],
                        m["decided_on"],
                        m["deadline_on"],
                        m["late_working_days"],
                        m["timeliness_approximate"],
                    )
        return found

    def by_department(
        self, since: int, until: int, *, conn: Connection | None = None
    ) -> list[DepartmentFilings]:
        """Each department's filings with ``since <= filed_at < until``, by client name.

        Raises:
            StorageError: the database failed.
        """
        t = RECORD_FILING.c
        late = t.late_working_days
        query = (
            select(
                t.client,
                func.min(t.domain).label("domain"),
                func.count().label("records"),
                func.count(case((late == 0, 1))).label("on_time"),
                func.count(case((late > 0, 1))).label("late"),
                func.coalesce(func.max(late), 0).label("worst"),
                func.count(case((t.timeliness_approximate.is_(True), 1))).label("approximate"),
                func.max(t.filed_at).label("last"),
            )
            .where(t.filed_at >= since, t.filed_at < until)
            .group_by(t.client)
            .order_by(t.client)
        )
        with using(self._engine, conn, "summing filings by department", write=False) as c:
            return [
                DepartmentFilings(
                    client=m["client"],
                    domain=m["domain"],
                    records=int(m["records"]),
                    on_time=int(m["on_time"]),
                    late=int(m["late"]),
                    worst_late_working_days=int(m["worst"]),
                    approximate=int(m["approximate"]),
                    last_filed_at=int(m["last"]),
                )
                for m in c.execute(query).mappings()
            ]

    def with_status(
        self, since: int, until: int, *, conn: Connection | None = None
    ) -> list[FiledRecord]:
        """Records filed with ``since <= filed_at < until``, each with its latest status.

        Raises:
            StorageError: the database failed.
        """
        f, r = RECORD_FILING.c, RECORD.c
        filed = select(f.record_id).where(f.filed_at >= since, f.filed_at < until)
        # Each filed record's newest version, read only for the period's records.
        latest = (
            select(r.record_id, func.max(r.version).label("version"))
            .where(r.record_id.in_(filed))
            .group_by(r.record_id)
            .subquery()
        )
        query = (
            select(
                f.record_id,
                f.client,
                f.domain,
                func.coalesce(f.category, r.category).label("category"),
                f.late_working_days,
                r.status,
                r.exp,
                r.sd_jwt,
                f.not_public,
            )
            .join(latest, latest.c.record_id == f.record_id)
            .join(RECORD, (r.record_id == f.record_id) & (r.version == latest.c.version))
            .where(f.filed_at >= since, f.filed_at < until)
            .order_by(f.client, f.record_id)
        )
        with using(self._engine, conn, "reading filed records", write=False) as c:
            return [
                FiledRecord(
                    record_id=m["record_id"],
                    client=m["client"],
                    domain=m["domain"],
                    category=m["category"],
                    late_working_days=m["late_working_days"],
                    status=m["status"],
                    exp=int(m["exp"]),
                    sd_jwt=m["sd_jwt"],
                    filed_not_public=m["not_public"],
                )
                for m in c.execute(query).mappings()
            ]
