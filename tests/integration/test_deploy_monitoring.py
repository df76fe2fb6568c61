"""deploy/prometheus and deploy/grafana: rules that load and fire, on names a node exposes.

`promtool check rules` loads the alert rules and `promtool test rules` runs
their unit tests (series that must fire each alert, with its labels and
annotations). Every metric name the rules and the dashboard use is checked
against the names a real `gateway serve` process exposes on /metrics.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator

import pytest
import yaml

from tests.support.deploy import DEPLOY
from tests.support.federation import Keystore, running_node
from tests.support.operations import CITY, city_with_operations, exposed_names

RULES = DEPLOY / "prometheus" / "gateway-alerts.yml"
RULE_TESTS = DEPLOY / "prometheus" / "gateway-alerts.test.yml"
DASHBOARD = DEPLOY / "grafana" / "credit-gateway.json"
# Every metric of ours starts with gateway_; PromQL functions and labels do not.
METRIC = re.compile(r"\bgateway_[a-z_]+\b")


@pytest.fixture(scope="module")
def node_names(keystore: Keystore, tmp_path_factory: pytest.TempPathFactory) -> Iterator[set[str]]:
    """Every series name a freshly started node describes on /metrics."""
    workdir = tmp_path_factory.mktemp("node")
    config, base = city_with_operations(keystore, workdir)
    with running_node(config, CITY, log=workdir / "node.log"):
        yield exposed_names(base)


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    if shutil.which("promtool") is None:
        pytest.skip("promtool is not installed (Debian package prometheus)")
    return subprocess.run(
        ["promtool", *args], capture_output=True, text=True, timeout=120, check=False
    )


def _rule_expressions() -> dict[str, str]:
    doc = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return {rule["alert"]: rule["expr"] for group in doc["groups"] for rule in group["rules"]}


def _dashboard_expressions() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    exprs += [v["definition"] for v in dashboard["templating"]["list"] if "definition" in v]
    return exprs


def test_promtool_loads_the_rules() -> None:
    done = _promtool("check", "rules", str(RULES))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(_rule_expressions())} rules found" in done.stdout


def test_each_alert_fires_on_its_unit_test_series() -> None:
    done = _promtool("test", "rules", str(RULE_TESTS))
    assert done.returncode == 0, done.stdout + done.stderr
    tested = yaml.safe_load(RULE_TESTS.read_text(encoding="utf-8"))
    fired = {
        case["alertname"]
        for test in tested["tests"]
        for case in test["alert_rule_test"]
        if case["exp_alerts"]
    }
    assert fired == set(_rule_expressions())


def test_the_alerts_cover_expiry_outbox_and_cosignature() -> None:
    used = {name for expr in _rule_expressions().values() for name in METRIC.findall(expr)}
    assert {
        "gateway_directory_expiry_seconds",
        "gateway_certificate_expiry_seconds",
        "gateway_outbox_depth",
        "gateway_outbox_oldest_age_seconds",
        "gateway_audit_cosignature_age_seconds",
    } <= used


def test_rules_and_dashboard_use_only_names_a_node_exposes(node_names: set[str]) -> None:
    rules = _rule_expressions()
    for alert, expr in rules.items():
        names = set(METRIC.findall(expr))
        assert names, f"{alert} uses no gateway metric"
        assert names <= node_names, f"{alert}: {sorted(names - node_names)} not exposed"
    for expr in _dashboard_expressions():
        names = set(METRIC.findall(expr))
        assert names, expr
        assert names <= node_names, f"dashboard: {sorted(names - node_names)} not exposed"


def test_the_dashboard_shows_every_metric_a_node_exposes(node_names: set[str]) -> None:
    shown = {name for expr in _dashboard_expressions() for name in METRIC.findall(expr)}
    suffixes = ("_total", "_created", "_count", "_sum", "_bucket")
    families = {n for n in node_names if n.startswith("gateway_") and not n.endswith(suffixes)}
    # A counter is shown by its _total, a histogram by its _bucket.
    missing = {f for f in families if not {f, f"{f}_total", f"{f}_bucket"} & shown}
    assert missing == set()
