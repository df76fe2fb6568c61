"""The office's quality indicators for one month, per department and category.

A city credit office is assessed monthly on its departments' reporting
(归集完整率, 双公示覆盖率, 公示率). The figures, each over the records filed at
this node in the month (China Standard Time):

- **received**: submissions, stored or refused; **stored**: first versions
  stored; **refused**: by reason (the rule broken, or the kind of fault) and by
  field; **late**: stored after the reporting deadline (7 working days for
  行政许可 and 行政处罚);
- **published**: stored records of publishable categories that the public may
  see now (in force or corrected, within their period); **withdrawn**: those
  that the public may no longer see (revoked, repaired, suspended on an
  objection, or expired);
- **双公示覆盖率** (coverage): of the departments expected to report
  (``[reporting] departments``), the share that stored a record in the month;
- **公示率** (publication rate): of the stored records of publishable
  categories, the share published within the reporting deadline (7 working
  days of the decision, the 双公示 standard); categories without a deadline
  count as on time.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from gateway.core.catalog import Catalog
from gateway.core.record_status import RecordStatus
from gateway.node.timeliness import Month
from gateway.store import Store

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


def quality_report(
    store: Store, catalog: Catalog, month: Month, expected: tuple[str, ...], *, now: int
) -> QualityReport:
    """The month's quality figures at this node (``now`` decides what has expired).

    Raises:
        StorageError: the database failed.
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
            public = filed.status in _PUBLIC_NOW and filed.exp > now
            r.published += public
            r.withdrawn += not public
            r.published_on_time += not late
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
