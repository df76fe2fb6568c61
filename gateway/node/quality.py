"""The office's quality indicators for one month, per department and category.

A city credit office is assessed monthly on its departments' reporting
(归集完整率, 双公示覆盖率, 公示率). The figures, each over the records filed at
this node in the month (China Standard Time):

- **received**: submissions, stored or refused; **stored**: first versions
  stored; **refused**: by reason (the rule broken, or the kind of fault) and by
  field; **late**: stored after the reporting deadline (7 working days for
  行政许可 and 行政处罚);
- **published**: stored records of publishable categories that the public may
  see now (in force or corrected, within their period), as the publication
  feed publishes them; **withheld**: those in force that their issuer marked
  不宜公开 (the signed claim ``npr``): the feed never publishes them, and HZ3
  asks the court to notify the subject's unit instead (“对依法不宜公开失信信息的
  被执行人,执行法院要通报其所在单位”), so they are counted apart;
  **withdrawn**: those that the public may no longer see (revoked, repaired,
  suspended on an objection, or expired);
- **双公示覆盖率** (coverage): of the departments expected to report
  (``[reporting] departments``), the share that stored a record in the month;
- **公示率** (publication rate): of the stored records of publishable
  categories, the share published within the reporting deadline (7 working
  days of the decision, the 双公示 standard); categories without a deadline
  count as on time, and a record marked 不宜公开 is never published.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from gateway.core.catalog import Catalog
from gateway.core.record_status import RecordStatus
from gateway.core.records import not_public_reason
from gateway.node.timeliness import Month
from gateway.store import FiledRecord, Store

__all__ = ["CategoryQuality", "QualityReport", "quality_report"]

_PUBLIC_NOW = frozenset({RecordStatus.ACTIVE, RecordStatus.DISPUTED, RecordStatus.CORRECTED})


@dataclass(slots=True)
class CategoryQuality:
    """One department's figures for one category."""

    client: str
    domain: str
    category: str
    stored: int = 0
    refused: int = 0
    late: int = 0
    publishable: int = 0
    published: int = 0
    withheld: int = 0
    withdrawn: int = 0
    published_on_time: int = 0
    refused_by_reason: dict[str, int] = field(default_factory=dict)
    refused_by_field: dict[str, int] = field(default_factory=dict)

    @property
    def received(self) -> int:
        return self.stored + self.refused


@dataclass(frozen=True, slots=True)
class QualityReport:
    """A month's figures, and the two rates over the whole node."""

    month: Month
    rows: tuple[CategoryQuality, ...]
    expected: tuple[str, ...]
    reported: tuple[str, ...]
    """Expected departments that stored a record in the month."""

    @property
    def coverage(self) -> float | None:
        """双公示覆盖率; None when no department is expected."""
        return len(self.reported) / len(self.expected) if self.expected else None

    @property
    def publication_rate(self) -> float | None:
        """公示率; None when nothing publishable was stored."""
        publishable = sum(r.publishable for r in self.rows)
        return sum(r.published_on_time for r in self.rows) / publishable if publishable else None


def _marked_not_public(filed: FiledRecord) -> bool:
    """Its issuer marked it 不宜公开: signed in the latest version, or noted at filing
    for a version purged since (a revocation or repair drops the SD-JWT)."""
    if filed.sd_jwt is not None:
        return bool(not_public_reason(filed.sd_jwt))
    return bool(filed.filed_not_public)


def quality_report(
    store: Store, catalog: Catalog, month: Month, expected: tuple[str, ...], *, now: int
) -> QualityReport:
    """The month's quality figures at this node (``now`` decides what has expired).

    Raises:
        StorageError: the database failed.
        MalformedError: a stored record's issuer JWT is not JSON.
    """
    since, until = month.bounds()
    rows: dict[tuple[str, str], CategoryQuality] = {}

    def row(client: str, domain: str, category: str) -> CategoryQuality:
        found = rows.get((client, category))
        if found is None:
            found = rows[(client, category)] = CategoryQuality(client, domain, category)
        return found

    for filed in store.filings.with_status(since, until):
        r = row(filed.client, filed.domain, filed.category)
        r.stored += 1
        late = filed.late_working_days is not None and filed.late_working_days > 0
        r.late += late
        if filed.category in catalog.categories and catalog.category(filed.category).publishable:
            r.publishable += 1
            in_force = filed.status in _PUBLIC_NOW and filed.exp > now
            marked = _marked_not_public(filed)
            r.published += in_force and not marked
            r.withheld += in_force and marked
            r.withdrawn += not in_force
            r.published_on_time += not late and not marked
    first_day, last_day = month.days()
    reasons: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    fields: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for counted in store.refusals.between(first_day, last_day):
        r = row(counted.client, counted.domain, counted.category)
        r.refused += counted.refused
        reasons[(counted.client, counted.category)][counted.reason] += counted.refused
        if counted.field:
            fields[(counted.client, counted.category)][counted.field] += counted.refused
    for key, r in rows.items():
        r.refused_by_reason = dict(sorted(reasons[key].items()))
        r.refused_by_field = dict(sorted(fields[key].items()))
    stored_by = {r.client for r in rows.values() if r.stored}
    return QualityReport(
        month=month,
        rows=tuple(rows[k] for k in sorted(rows)),
        expected=tuple(sorted(set(expected))),
        reported=tuple(sorted(name for name in set(expected) if name in stored_by)),
    )
