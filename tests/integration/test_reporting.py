"""The office's duties through the real command line: `gateway submit` flags a
late penalty (and stores it), `gateway report timeliness` sums it per
department and names the expected department that filed nothing, `gateway
report quality` gives the month's figures and rates; both audited as the operator.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.core.records import CHINA_STANDARD_TIME
from gateway.core.working_days import OfficialCalendar, lateness
from tests.support.cluster import Cluster, make_cluster, running
from tests.support.federation import run_gateway
from tests.support.node_config import set_config_keys
from tests.support.records import penalty_fields

HUZHOU = "330500"
CLIENTS = [
    (HUZHOU, "procurement-office", "department", "procurement"),
    (HUZHOU, "audit-office", "auditor", None),
]


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    # Only the city runs: its pushes wait for a province that is not there.
    built = make_cluster(tmp_path, ["000000", "330000", HUZHOU], clients=CLIENTS)
    set_config_keys(
        built.configs[HUZHOU], "reporting", departments=["procurement-office", "tax-office"]
    )
    with running(built, [HUZHOU]) as started:
        yield started


def _json_lines(*args: str) -> list[dict[str, Any]]:
    result = run_gateway(*args, "--json")
    assert result.returncode == 0, result.stderr + result.stdout
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def test_a_late_penalty_is_flagged_counted_and_reported(cluster: Cluster, tmp_path: Path) -> None:
    today = dt.datetime.now(CHINA_STANDARD_TIME).date()
    late_decision = today - dt.timedelta(days=30)
    source = tmp_path / "penalties.jsonl"
    lines = [
        {"category": "admin_penalty", "fields": penalty_fields(1, decided=today)},
        {"category": "admin_penalty", "fields": penalty_fields(2, decided=late_decision)},
        {
            "category": "admin_penalty",
            "fields": penalty_fields(3, decided=today),
            "not_public": "涉及国家秘密，依法不予公开",
        },
    ]
    source.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    client = ["--as", str(cluster.client(HUZHOU, "procurement-office"))]
    submitted = _json_lines("submit", *client, "--endpoint", cluster.endpoint(HUZHOU), str(source))
    expected = lateness(late_decision, today, 7, OfficialCalendar())
    assert [(r["outcome"], r["late_working_days"]) for r in submitted] == [
        ("accepted", 0),
        ("accepted", expected.late_working_days),
        ("accepted", 0),
    ]
    assert expected.late_working_days > 0
    assert submitted[1]["reporting_deadline"] == expected.deadline.isoformat()

    table = run_gateway(
        "submit", *client, "--endpoint", cluster.endpoint(HUZHOU), str(source)
    )  # the same lines again: duplicates, no lateness reported for them
    assert "reported late" not in table.stdout, table.stdout

    config = str(cluster.configs[HUZHOU])
    [found] = _json_lines("report", "timeliness", "--config", config)
    [row] = found["departments"]
    assert (row["client"], row["records"], row["on_time"], row["late"]) == (
        "procurement-office",
        3,
        2,
        1,
    )
    assert row["worst_late_working_days"] == expected.late_working_days
    assert found["not_submitted"] == ["tax-office"]

    shown = run_gateway("report", "timeliness", "--config", config)
    assert shown.returncode == 0, shown.stderr
    assert "procurement-office" in shown.stdout
    assert "not submitted in" in shown.stdout
    assert "tax-office" in shown.stdout

    [quality] = _json_lines("report", "quality", "--config", config)
    [row] = quality["rows"]
    assert (row["client"], row["category"], row["received"], row["stored"], row["late"]) == (
        "procurement-office",
        "admin_penalty",
        3,
        3,
        1,
    )
    # The third penalty is marked 不宜公开: withheld, not published (the feed leaves it out).
    assert (row["published"], row["withheld"], row["withdrawn"], row["refused"]) == (2, 1, 0, 0)
    assert (quality["coverage"], quality["publication_rate"], quality["withheld"]) == (
        0.5,
        1 / 3,
        1,
    )
    shown = run_gateway("report", "quality", "--config", config)
    assert shown.returncode == 0, shown.stderr
    assert "双公示覆盖率 (coverage): 50.0% (1 of 2)" in shown.stdout
    assert "公示率 (published on time): 33.3% (1 of 3)" in shown.stdout
    assert "不宜公开 (in force, withheld from publication by their issuer): 1" in shown.stdout

    events = _json_lines(
        "audit", "events", "--as", str(cluster.client(HUZHOU, "audit-office")),
        "--endpoint", cluster.endpoint(HUZHOU), "--action", "report.timeliness",
    )  # fmt: skip
    assert [(e["actor"], e["decision"]) for e in events] == [
        (f"operator:{HUZHOU}/{getpass.getuser()}", "allowed"),
        (f"operator:{HUZHOU}/{getpass.getuser()}", "allowed"),
    ]
