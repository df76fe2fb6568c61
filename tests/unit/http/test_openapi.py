"""docs/operations-openapi.yaml describes the operations listener as it answers."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from prometheus_client import CollectorRegistry
from starlette.routing import Route

from gateway.http import OperationsListener, operations_app
from gateway.node.readiness import CheckResult, ReadinessReport

DESCRIPTION = Path(__file__).resolve().parents[3] / "docs" / "operations-openapi.yaml"
NOT_READY = ReadinessReport(
    (
        CheckResult("store", "SQLite file /srv/node.db is not writable"),
        CheckResult("schema", "schema revision 0007 is not the newest (0008)"),
        CheckResult("directory"),
        CheckResult("certificates", "tls certificate expired at 2026-01-01 00:00:00+00:00"),
    )
)


@pytest.fixture(scope="module")
def description() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(DESCRIPTION.read_text(encoding="utf-8"))
    return doc


class _Readiness:
    report = ReadinessReport((CheckResult("store"),))

    def __call__(self) -> ReadinessReport:
        return self.report


@pytest.fixture
def served() -> Iterator[tuple[OperationsListener, _Readiness]]:
    readiness = _Readiness()
    listener = OperationsListener(
        operations_app(registry=CollectorRegistry(), readiness=readiness), listen="127.0.0.1:0"
    )
    listener.start()
    yield listener, readiness
    listener.stop()


def _get(url: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.headers["content-type"], response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["content-type"], exc.read()


def test_the_description_lists_exactly_the_served_routes(description: dict[str, Any]) -> None:
    app = operations_app(registry=CollectorRegistry(), readiness=_Readiness())
    served = {
        (route.path, method.lower())
        for route in app.routes
        if isinstance(route, Route)
        for method in route.methods or ()
        if method != "HEAD"
    }
    described = {(path, method) for path, item in description["paths"].items() for method in item}
    assert served == described


def _check(description: dict[str, Any], path: str, answer: tuple[int, str, bytes]) -> None:
    status, content_type, body = answer
    responses = description["paths"][path]["get"]["responses"]
    assert str(status) in responses, f"{path} answered {status}, which is not described"
    media = content_type.split(";")[0]
    schema = responses[str(status)]["content"][media]["schema"]
    value = json.loads(body) if media == "application/json" else body.decode()
    jsonschema.Draft202012Validator(schema).validate(value)


def test_every_answer_is_one_the_description_gives(
    description: dict[str, Any], served: tuple[OperationsListener, _Readiness]
) -> None:
    listener, readiness = served
    _check(description, "/healthz", _get(f"{listener.url}/healthz"))
    _check(description, "/readyz", _get(f"{listener.url}/readyz"))
    _check(description, "/metrics", _get(f"{listener.url}/metrics"))
    readiness.report = NOT_READY
    not_ready = _get(f"{listener.url}/readyz")
    assert not_ready[0] == 503
    _check(description, "/readyz", not_ready)
