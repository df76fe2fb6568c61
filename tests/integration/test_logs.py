"""A node's stderr in production: JSON lines only, lifecycle events under stable names.

Real `gateway serve` processes: a province started before its national parent
(unreachable, then recovered), without a cached directory (refreshed from the
parent), with a warning window wider than its certificates' life (expiring),
and checkpoints cosigned by the parent; gRPC C-core's own lines are turned up
to INFO and provoked, and still arrive as JSON.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import grpc
import pytest

from tests.support.cluster import make_cluster, running, wait_for
from tests.support.federation import health_check, run_gateway

NATIONAL = "000000"
PROVINCE = "330000"


def json_lines(log: Path) -> list[dict[str, Any]]:
    """Every line of ``log`` as JSON; fails on the first line that is not."""
    lines = []
    for number, line in enumerate(log.read_text(encoding="utf-8").splitlines(), 1):
        try:
            lines.append(json.loads(line))
        except ValueError:
            pytest.fail(f"{log.name} line {number} is not JSON: {line!r}")
    return lines


def events(log: Path) -> list[str]:
    return [str(line["event"]) for line in json_lines(log)]


def test_every_stderr_line_is_json_and_lifecycle_events_are_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cluster = make_cluster(
        tmp_path, [NATIONAL, PROVINCE], clients=[(PROVINCE, "audit-office", "auditor", None)]
    )
    (tmp_path / PROVINCE / "directory.json").unlink()
    with cluster.configs[PROVINCE].open("a", encoding="utf-8") as handle:
        handle.write("\n[audit]\ncheckpoint_every_events = 1\ncheckpoint_every_s = 0.5\n")
    # Inherited by the node processes: every certificate is inside its warning window,
    # and C-core writes its INFO lines (a refused handshake is one).
    monkeypatch.setenv("GATEWAY_SERVER__CERTIFICATE_WARNING_DAYS", "36500")
    monkeypatch.setenv("GRPC_VERBOSITY", "INFO")
    province_log = tmp_path / f"{PROVINCE}.log"
    with running(cluster, [PROVINCE]):
        wait_for("peer.unreachable", lambda: "peer.unreachable" in events(province_log))
        with grpc.insecure_channel(cluster.endpoint(PROVINCE)) as plain:
            with pytest.raises(grpc.RpcError):
                health_check(plain)
        cluster.start(NATIONAL)
        wait_for("directory.refreshed", lambda: "directory.refreshed" in events(province_log))
        listed = run_gateway(
            "records", "list", "--as", str(cluster.client(PROVINCE, "audit-office")),
            "--endpoint", cluster.endpoint(PROVINCE), "--purpose", "log test", "--json",
        )  # fmt: skip
        assert listed.returncode == 0, listed.stderr
        wait_for("checkpoint.cosigned", lambda: "checkpoint.cosigned" in events(province_log))
        # Readiness is re-checked on its own period: wait for it rather than race it.
        wait_for("node.ready", lambda: "node.ready" in events(province_log))
    province = json_lines(province_log)
    national = json_lines(tmp_path / f"{NATIONAL}.log")

    lifecycle = {
        "node.started", "node.serving", "node.not_ready", "node.ready", "node.stopped",
        "peer.unreachable", "peer.recovered", "directory.refreshed", "certificate.expiring",
        "checkpoint.cosigned",
    }  # fmt: skip
    seen = [line for line in province if line["event"] in lifecycle]
    assert {line["event"] for line in seen} == lifecycle
    named = [line["event"] for line in seen]
    # Once per transition, not per retry (the province retried every 0.5 s while alone).
    assert named.count("peer.unreachable") == 1
    assert named.count("peer.recovered") == 1
    assert named.index("node.started") < named.index("node.serving") < named.index("node.stopped")
    # Not ready without a directory; ready once the parent's is installed.
    assert named.index("node.not_ready") < named.index("directory.refreshed")
    assert named.index("directory.refreshed") < named.index("node.ready")
    unreachable = next(line for line in seen if line["event"] == "peer.unreachable")
    assert unreachable["peer"] == NATIONAL
    expiring = {line["certificate"] for line in seen if line["event"] == "certificate.expiring"}
    assert expiring == {"tls", "signing", "node-ca", "root"}
    national_events = {line["event"] for line in national}
    assert {"node.started", "node.serving", "node.ready", "node.stopped"} <= national_events
    # C-core's own lines, routed through the same logger.
    native = [line for line in province if line["event"] == "grpc.native"]
    assert any("Handshake failed" in line["message"] for line in native), native
    assert all({"level", "timestamp"} <= set(line) for line in province + national)


def test_log_level_option_leaves_out_less_severe_events(tmp_path: Path) -> None:
    cluster = make_cluster(tmp_path, [NATIONAL], clients=[])
    process = cluster.start(NATIONAL, options=["--log-level", "warning"])
    assert process.terminate() == 0
    levels = {line["level"] for line in json_lines(tmp_path / f"{NATIONAL}.log")}
    assert levels <= {"warning", "error", "critical"}
