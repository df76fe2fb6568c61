"""Nothing is silently stuck: a refused delivery is listed by `gateway outbox list` and
re-sent by `gateway outbox retry` (audited as the operator), with real processes over mTLS.

The province starts with a stale directory that does not list Huzhou yet, so it
refuses Huzhou's pushes for good; before, those rows sat as ``failed`` in the
outbox table, seen by nobody and never sent again.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.cluster import Cluster, make_cluster, running, wait_for
from tests.support.federation import run_gateway
from tests.support.records import penalty_fields

NATIONAL, ZHEJIANG, HUZHOU = "000000", "330000", "330500"
DECIDED = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=20)
CLIENTS = [
    (HUZHOU, "procurement-office", "department", "procurement"),
    (HUZHOU, "audit-office", "auditor", None),
    (ZHEJIANG, "audit-office", "auditor", None),
]


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    built = make_cluster(tmp_path, [NATIONAL, ZHEJIANG, HUZHOU], clients=CLIENTS)
    # The province's cached directory: the same federation without Huzhou.
    stale = tmp_path / "directory-without-huzhou.json"
    args = ["directory", "sign", "--keys", str(built.keystore.root), "--out", str(stale)]
    for node in (NATIONAL, ZHEJIANG):
        args += ["--node", f"{node}={built.endpoint(node)}"]
    assert run_gateway(*args).returncode == 0
    shutil.copy(stale, tmp_path / ZHEJIANG / "directory.json")
    with running(built, [NATIONAL, ZHEJIANG, HUZHOU]) as started:
        yield started


def _json_lines(*args: str) -> list[dict[str, Any]]:
    result = run_gateway(*args, "--json")
    assert result.returncode == 0, result.stderr + result.stdout
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def _as(cluster: Cluster, node: str, client: str) -> list[str]:
    return ["--as", str(cluster.client(node, client)), "--endpoint", cluster.endpoint(node)]


def _troubled(cluster: Cluster) -> list[dict[str, Any]]:
    return _json_lines("outbox", "list", "--config", str(cluster.configs[HUZHOU]))


def _held_at_province(cluster: Cluster) -> set[str]:
    rows = _json_lines(
        "records", "list", *_as(cluster, ZHEJIANG, "audit-office"), "--purpose", "outbox test",
    )  # fmt: skip
    return {str(row["record_id"]) for row in rows}


@pytest.mark.slow
def test_a_refused_push_is_listed_and_resent_by_the_operator(
    cluster: Cluster, tmp_path: Path
) -> None:
    source = tmp_path / "penalties.jsonl"
    lines = [
        {"category": "admin_penalty", "fields": penalty_fields(700 + i, decided=DECIDED)}
        for i in range(3)
    ]
    source.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    submitted = _json_lines("submit", *_as(cluster, HUZHOU, "procurement-office"), str(source))
    ids = {str(row["record_id"]) for row in submitted if row["outcome"] == "accepted"}
    assert len(ids) == 3

    failed = wait_for(
        "Huzhou's refused deliveries in `gateway outbox list`",
        lambda: [r for r in _troubled(cluster) if r["state"] == "failed"] or None,
    )
    assert sorted(r["item"].split("@")[0] for r in failed) == sorted(ids)
    for row in failed:
        assert (row["recipient"], row["kind"], row["attempts"]) == (ZHEJIANG, "record", 1)
        assert "PERMISSION_DENIED" in row["reason"], row["reason"]
    assert _held_at_province(cluster) == set()

    # The operator gives the province the current directory, then re-sends.
    cluster.stop(ZHEJIANG)
    shutil.copy(tmp_path / "directory.json", tmp_path / ZHEJIANG / "directory.json")
    cluster.start(ZHEJIANG)
    [retried] = _json_lines(
        "outbox", "retry", "--config", str(cluster.configs[HUZHOU]), "--recipient", ZHEJIANG
    )
    assert sorted(retried["requeued"]) == sorted(r["id"] for r in failed)

    wait_for("the records at the province", lambda: _held_at_province(cluster) == ids or None)
    wait_for("an empty trouble list at Huzhou", lambda: _troubled(cluster) == [] or None)
    events = _json_lines(
        "audit", "events", *_as(cluster, HUZHOU, "audit-office"), "--action", "outbox.retry",
    )  # fmt: skip
    assert [(e["actor"], e["address"], e["decision"]) for e in events] == [
        (f"operator:{HUZHOU}/{getpass.getuser()}", socket.gethostname(), "allowed")
    ]
