"""The office's quality figures of the current month, as Prometheus gauges.

The same figures as ``gateway report quality`` (:mod:`gateway.node.quality`)
for the month now running (China Standard Time), so that a dashboard shows a
department falling behind before the month's assessment. Computing them reads
the month's filings, so a scrape reuses figures up to ``max_age_s`` old; when
the store cannot be read the families have no samples (the node's state
collector reports ``gateway_store_up``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

import structlog
from prometheus_client.core import GaugeMetricFamily, Metric

from gateway.core.catalog import Catalog
from gateway.core.errors import GatewayError
from gateway.node.quality import QualityReport, quality_report
from gateway.node.timeliness import Month
from gateway.store import Store

__all__ = ["QualityCollector"]

log = structlog.get_logger("gateway.metrics")

_FIGURES = ("received", "stored", "refused", "late", "published", "withheld", "withdrawn")


class QualityCollector:
    """A Prometheus collector of the month's quality figures."""

    def __init__(
        self,
        *,
        store: Store,
        catalog: Catalog,
        expected: tuple[str, ...],
        clock: Callable[[], float],
        max_age_s: float = 60.0,
    ) -> None:
        self._store = store
        self._catalog = catalog
        self._expected = expected
        self._clock = clock
        self._max_age_s = max_age_s
        self._lock = threading.Lock()
        self._cached: tuple[float, QualityReport] | None = None

    def _report(self) -> QualityReport | None:
        now = self._clock()
        with self._lock:
            if self._cached is not None and now - self._cached[0] < self._max_age_s:
                return self._cached[1]
            try:
                found = quality_report(
                    self._store,
                    self._catalog,
                    Month.of(int(now)),
                    self._expected,
                    now=int(now),
                )
            except GatewayError as exc:
                log.warning("metrics.quality_unreadable", error=str(exc))
                return None
            self._cached = (now, found)
            return found

    def collect(self) -> Iterable[Metric]:
        records = GaugeMetricFamily(
            "gateway_reporting_records",
            "This month's submissions per department and category (China Standard Time), "
            "by figure: received, stored, refused, late, published, withheld (不宜公开), "
            "withdrawn.",
            labels=["department", "category", "figure"],
        )
        coverage = GaugeMetricFamily(
            "gateway_reporting_coverage_ratio",
            "双公示覆盖率: share of the expected departments ([reporting] departments) that "
            "stored a record this month (no sample when none is expected).",
        )
        publication = GaugeMetricFamily(
            "gateway_reporting_publication_ratio",
            "公示率: share of this month's publishable records published within the "
            "reporting deadline (no sample when there is none).",
        )
        found = self._report()
        if found is not None:
            for row in found.rows:
                values = {
                    "received": row.received,
                    "stored": row.stored,
                    "refused": row.refused,
                    "late": row.late,
                    "published": row.published,
                    "withheld": row.withheld,
                    "withdrawn": row.withdrawn,
                }
                for figure in _FIGURES:
                    records.add_metric([row.client, row.category, figure], values[figure])
            if found.coverage is not None:
                coverage.add_metric([], found.coverage)
            if found.publication_rate is not None:
                publication.add_metric([], found.publication_rate)
        return [records, coverage, publication]

    def describe(self) -> Iterable[Metric]:
        # Described without reading the store: registering must not query it.
        return [
            GaugeMetricFamily(
                "gateway_reporting_records", "", labels=["department", "category", "figure"]
            ),
            GaugeMetricFamily("gateway_reporting_coverage_ratio", ""),
            GaugeMetricFamily("gateway_reporting_publication_ratio", ""),
        ]
