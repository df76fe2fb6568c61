"""The operations listener over real HTTP on loopback: health, readiness, metrics."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.openmetrics.exposition import CONTENT_TYPE_LATEST as OPENMETRICS

from gateway.core.errors import ConfigurationError
from gateway.http import OperationsListener, operations_app
from gateway.node.readiness import CheckResult, ReadinessReport


class _Readiness:
    def __init__(self) -> None:
        self.report = ReadinessReport((CheckResult("store"), CheckResult("directory")))

    def __call__(self) -> ReadinessReport:
        return self.report


@pytest.fixture
def readiness() -> _Readiness:
    return _Readiness()


@pytest.fixture
def registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    Counter("demo_events", "Events.", registry=registry).inc(3)
    return registry


@pytest.fixture
def listener(registry: CollectorRegistry, readiness: _Readiness) -> Iterator[OperationsListener]:
    listener = OperationsListener(
        operations_app(registry=registry, readiness=readiness), listen="127.0.0.1:0"
    )
    listener.start()
    yield listener
    listener.stop()


def _get(url: str, accept: str = "") -> tuple[int, str, bytes]:
    request = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers["content-type"], response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["content-type"], exc.read()


def test_healthz_says_live(listener: OperationsListener) -> None:
    assert _get(f"{listener.url}/healthz") == (200, "application/json", b'{"status":"live"}')


def test_readyz_is_503_with_every_failed_check_and_its_reason(
    listener: OperationsListener, readiness: _Readiness
) -> None:
    assert _get(f"{listener.url}/readyz")[::2] == (200, b'{"status":"ready"}')
    readiness.report = ReadinessReport(
        (
            CheckResult("store", "reading the schema revision failed: connection refused"),
            CheckResult("directory", "federation directory serial 3 expired at 1700000000"),
            CheckResult("certificates"),
        )
    )
    status, content_type, body = _get(f"{listener.url}/readyz")
    assert (status, content_type) == (503, "application/json")
    assert body == (
        b'{"status":"not ready","reasons":{"store":"reading the schema revision failed: '
        b'connection refused","directory":"federation directory serial 3 expired at 1700000000"}}'
    )


def test_metrics_are_the_given_registry_in_the_format_the_scraper_asks(
    listener: OperationsListener,
) -> None:
    status, content_type, body = _get(f"{listener.url}/metrics")
    assert (status, content_type) == (200, "text/plain; version=0.0.4; charset=utf-8")
    assert b"demo_events_total 3.0\n" in body
    status, content_type, body = _get(
        f"{listener.url}/metrics", accept="application/openmetrics-text; version=1.0.0"
    )
    assert status == 200
    assert content_type.startswith(OPENMETRICS)
    assert body.endswith(b"# EOF\n")


def test_other_paths_are_404(listener: OperationsListener) -> None:
    assert _get(f"{listener.url}/admin")[0] == 404


def test_a_taken_address_is_refused_naming_it(
    registry: CollectorRegistry, readiness: _Readiness
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        app = operations_app(registry=registry, readiness=readiness)
        with pytest.raises(ConfigurationError, match=f"cannot listen on {address} for operations"):
            OperationsListener(app, listen=address)


def test_stop_closes_the_port(registry: CollectorRegistry, readiness: _Readiness) -> None:
    listener = OperationsListener(
        operations_app(registry=registry, readiness=readiness), listen="127.0.0.1:0"
    )
    listener.start()
    assert _get(f"{listener.url}/healthz")[0] == 200
    listener.stop()
    with pytest.raises(urllib.error.URLError):
        _get(f"{listener.url}/healthz")
