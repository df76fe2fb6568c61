"""谁产生、谁负责 over real processes and mTLS: a department cannot change what another filed.

Before, any department at the issuing node could revoke, repair or suspend any
record through `records status`, even records of domains it cannot read,
bypassing the repair procedure's minimum period and approval.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.cluster import Cluster, make_cluster, running
from tests.support.federation import run_gateway
from tests.support.records import penalty_fields

NATIONAL, ZHEJIANG, HUZHOU = "000000", "330000", "330500"
DECIDED = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=20)
CLIENTS = [
    (HUZHOU, "procurement-office", "department", "procurement"),
    (HUZHOU, "service-office", "department", "public_service"),
    (HUZHOU, "credit-admin", "admin", None),
    (HUZHOU, "audit-office", "auditor", None),
]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    built = make_cluster(
        tmp_path_factory.mktemp("filing"), [NATIONAL, ZHEJIANG, HUZHOU], clients=CLIENTS
    )
    with running(built, [HUZHOU]) as started:
        yield started


def _run(cluster: Cluster, client: str, *args: str) -> Any:
    who = ["--as", str(cluster.client(HUZHOU, client)), "--endpoint", cluster.endpoint(HUZHOU)]
    return run_gateway(*args[:2], *who, *args[2:], "--json")


@pytest.fixture(scope="module")
def record_id(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> str:
    source = tmp_path_factory.mktemp("input") / "one.jsonl"
    line = {"category": "admin_penalty", "fields": penalty_fields(801, decided=DECIDED)}
    source.write_text(json.dumps(line) + "\n", encoding="utf-8")
    result = _run(cluster, "procurement-office", "submit", str(source))
    assert result.returncode == 0, result.stderr
    [row] = [json.loads(x) for x in result.stdout.splitlines()]
    assert row["outcome"] == "accepted"
    return str(row["record_id"])


def _denials(cluster: Cluster, rule: str) -> list[dict[str, Any]]:
    """Denied calls with ``rule`` in Huzhou's audit log."""
    result = _run(cluster, "audit-office", "audit", "events", "--decision", "denied")
    assert result.returncode == 0, result.stderr
    events = [json.loads(x) for x in result.stdout.splitlines()]
    return [e for e in events if e["rule"] == rule]


def test_a_department_of_another_domain_cannot_revoke_a_record_it_did_not_file(
    cluster: Cluster, record_id: str
) -> None:
    result = _run(
        cluster, "service-office", "records", "status", record_id,
        "--kind", "revocation", "--reason", "not mine to revoke",
    )  # fmt: skip
    assert result.returncode == 1, result.stdout
    error = json.loads(result.stderr)["error"]
    assert (error["code"], error["message"]) == (
        "PERMISSION_DENIED",
        f"PERMISSION_DENIED: record {record_id} was filed by department domain procurement: "
        "only that department or the node's admin may make a revocation",
    )
    [event] = _denials(cluster, "status:filer-only")
    assert (event["action"], event["actor"]) == (
        "/gateway.v1.Records/SetStatus",
        f"department:{HUZHOU}/service-office",
    )


def test_not_even_the_admin_repairs_or_suspends_by_a_bare_status_call(
    cluster: Cluster, record_id: str
) -> None:
    for kind, procedure in (("repair", "repair"), ("suspension", "objection")):
        result = _run(
            cluster, "credit-admin", "records", "status", record_id,
            "--kind", kind, "--reason", "skip the procedure",
        )  # fmt: skip
        assert result.returncode == 1
        error = json.loads(result.stderr)["error"]
        assert error["code"] == "PERMISSION_DENIED"
        assert f"only through the {procedure} procedure" in error["message"]
    events = _denials(cluster, "status:procedure-only")
    assert [(e["action"], e["actor"]) for e in events] == [
        ("/gateway.v1.Records/SetStatus", f"admin:{HUZHOU}/credit-admin")
    ] * 2


def test_the_filing_department_revokes_its_own_record(cluster: Cluster, record_id: str) -> None:
    result = _run(
        cluster, "procurement-office", "records", "status", record_id,
        "--kind", "revocation", "--reason", "decision annulled",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
