"""Reading a node's operations listener over plain HTTP, as Prometheus and a kubelet do."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from gateway.node.local_federation import free_port
from tests.support.federation import Keystore, init_node, sign_directory
from tests.support.node_config import set_config_keys

__all__ = [
    "CITY",
    "PARENT",
    "Samples",
    "city_with_operations",
    "exposed_names",
    "http_get",
    "scrape",
]

CITY = "330500"
PARENT = "330000"

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


def city_with_operations(
    keystore: Keystore, workdir: Path, *, database: str | None = None
) -> tuple[Path, str]:
    """A city node (330500) whose parent (330000) is not running, checking its readiness
    every 0.2 s and publishing a checkpoint at every event; returns its config and
    its operations listener's URL."""
    port, parent_port, operations_port = free_port(), free_port(), free_port()
    directory = sign_directory(
        keystore,
        workdir / "directory.json",
        {
            "000000": "127.0.0.1:1",
            PARENT: f"127.0.0.1:{parent_port}",
            CITY: f"127.0.0.1:{port}",
        },
    )
    config = init_node(
        keystore,
        CITY,
        workdir,
        database=database,
        listen=f"127.0.0.1:{port}",
        extra=["--directory", str(directory), "--parent", f"127.0.0.1:{parent_port}"],
    )
    set_config_keys(config, "server", readiness_interval_s=0.2)
    set_config_keys(config, "audit", checkpoint_every_events=1, checkpoint_every_s=0.2)
    set_config_keys(config, "federation", initial_backoff_ms=50, max_backoff_ms=200)
    set_config_keys(config, "operations", listen=f"127.0.0.1:{operations_port}")
    return config, f"http://127.0.0.1:{operations_port}"
