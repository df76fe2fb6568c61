"""Reading a node's operations listener over plain HTTP, as Prometheus and a kubelet do."""

from __future__ import annotations

import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

__all__ = ["Samples", "exposed_names", "http_get", "scrape"]

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
"""(sample name, sorted label pairs) -> value."""

# The sample names each metric type adds to its family's name.
_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("_count", "_sum", "_created"),
}


def http_get(url: str) -> tuple[int, bytes]:
    """Status and body of a GET; an error status is returned, not raised."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _metrics_text(base: str) -> str:
    status, body = http_get(f"{base}/metrics")
    assert status == 200, body
    return body.decode()


def scrape(base: str) -> Samples:
    """Every sample of ``base``/metrics, parsed with prometheus_client's parser."""
    samples: Samples = {}
    for family in text_string_to_metric_families(_metrics_text(base)):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def exposed_names(base: str) -> set[str]:
    """Every series name ``base``/metrics describes, with samples or not."""
    names: set[str] = set()
    for family in text_string_to_metric_families(_metrics_text(base)):
        names.add(family.name)
        names.update(family.name + suffix for suffix in _SUFFIXES.get(family.type, ()))
        names.update(sample.name for sample in family.samples)
    return names
