"""Check frontends (``[check] frontends``): more processes answering checks, one writer.

A real `gateway serve` with two frontends, each a child process on its own
port. A check answered at a frontend is the check answered at the node's port:
same decision and hits, the same check row and audit event, the caller taken
from its real client certificate; a revoked certificate is refused there with
the same audit event; a frontend killed by pid is replaced on the same port and
no acknowledged check is lost; no frontend outlives the node.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest

from gateway._proto.v1 import discipline_pb2, discipline_pb2_grpc, intake_pb2, intake_pb2_grpc
from gateway.core.audit import AuditEvent
from gateway.pki import NodePaths
from gateway.store import AuditFilter, open_store_reader
from gateway.store.discipline import CheckRow, DisciplineRepository
from tests.support.command_server import gateway_command
from tests.support.federation import (
    Keystore,
    NodeProcess,
    client_channel,
    init_node,
    make_keystore,
    run_gateway,
    start_node,
)
from tests.support.node_config import set_config_keys
from tests.support.operations import scrape
from tests.support.processes import process_running
from tests.support.records import company_code, notice_fields

NODE = "330500"
CHECKER, REVOKED = "procurement-office", "stolen-laptop-office"
SUBJECT = company_code(100_001)
PURPOSE = "政府采购资格审查"


@pytest.fixture(scope="module")
def keystore(tmp_path_factory: pytest.TempPathFactory) -> Keystore:
    return make_keystore(
        tmp_path_factory.mktemp("frontend-keys"),
        nodes=["000000", "330000", NODE],
        clients=[
            (NODE, CHECKER, "department", "procurement"),
            (NODE, REVOKED, "department", "procurement"),
        ],
    )


def _frontend_pids(log: Path) -> dict[int, int]:
    """Each frontend's latest pid by port, from the node's ``frontend.serving`` log lines."""
    found: dict[int, int] = {}
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        if '"frontend.serving"' in line:
            event = json.loads(line)
            found[int(event["port"])] = int(event["pid"])
    return found


def _wait_for(predicate: Callable[[], bool], what: str, timeout_s: float = 90.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _all_gone(pids: list[int]) -> bool:
    return not any(process_running(pid) for pid in pids)


class _Node:
    def __init__(self, process: NodeProcess, frontends: list[int], config: Path) -> None:
        self.process = process
        self.frontends = frontends
        self.config = config

    def endpoint(self, port: int) -> str:
        return f"127.0.0.1:{port}"


@pytest.fixture(scope="module")
def node(keystore: Keystore, tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Node]:
    workdir = tmp_path_factory.mktemp("frontend-node")
    config = init_node(keystore, NODE, workdir)
    set_config_keys(config, "check", frontends=2)
    process = start_node(config, NODE, log=workdir / "node.log")
    try:
        ports = sorted(_frontend_pids(process.log))
        assert len(ports) == 2, process.log.read_text()
        _seed_notice(keystore, process.endpoint)
        yield _Node(process, ports, config)
    finally:
        if process.process.poll() is None:
            process.terminate()


def _seed_notice(keystore: Keystore, endpoint: str) -> None:
    decided = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=20)
    request = intake_pb2.SubmitRequest(
        records=[
            intake_pb2.SubmittedRecord(
                ref="1", category="serious_dishonesty", fields=notice_fields(1, decided=decided)
            )
        ]
    )
    with client_channel(keystore.client(NODE, CHECKER), endpoint) as channel:
        replies = intake_pb2_grpc.IntakeStub(channel).Submit(iter([request]), timeout=30)
        outcomes = [r.outcome for reply in replies for r in reply.results]
    assert outcomes == [intake_pb2.SUBMIT_OUTCOME_ACCEPTED]


def _check(
    keystore: Keystore, client: str, endpoint: str, request_id: str = ""
) -> discipline_pb2.CheckResponse:
    with client_channel(keystore.client(NODE, client), endpoint) as channel:
        reply: discipline_pb2.CheckResponse = discipline_pb2_grpc.DisciplineStub(channel).Check(
            discipline_pb2.CheckRequest(
                subject=SUBJECT, purpose=PURPOSE, case_id="case-7", request_id=request_id
            ),
            timeout=30,
        )
    return reply


def _database(node: _Node) -> str:
    for line in node.config.read_text(encoding="utf-8").splitlines():
        if line.startswith("database"):
            return str(json.loads(line.split("=", 1)[1].strip()))
    raise AssertionError("no database in the config")


def _stored(node: _Node, check_id: str) -> tuple[CheckRow, list[AuditEvent]]:
    store = open_store_reader(_database(node))
    try:
        row = DisciplineRepository(store.engine).get_check(check_id)
        events = [
            stored.event
            for stored in store.audit.events(AuditFilter(action="discipline.check"), limit=10_000)
            if stored.event.detail.startswith(f"check {check_id}:")
        ]
    finally:
        store.close()
    return row, events


def _denied(node: _Node, rule: str) -> list[AuditEvent]:
    store = open_store_reader(_database(node))
    try:
        events = store.audit.events(AuditFilter(decision="denied"), limit=10_000)
    finally:
        store.close()
    return [e.event for e in events if e.event.rule == rule]


def test_a_check_at_each_frontend_is_the_check_at_the_node(keystore: Keystore, node: _Node) -> None:
    ports = [node.process.port, *node.frontends]
    replies = [_check(keystore, CHECKER, node.endpoint(port)) for port in ports]

    assert [r.decision for r in replies] == ["intercept"] * 3
    assert len({r.check_id for r in replies}) == 3
    shown = [[(h.record_id, h.category, h.outcome) for h in r.hits] for r in replies]
    assert shown[1] == shown[0]
    assert shown[2] == shown[0]
    assert shown[0][0][1:] == ("serious_dishonesty", "intercept")
    rows = []
    for reply in replies:
        row, events = _stored(node, reply.check_id)
        assert (row.actor, row.decision, row.checked_at) == (
            f"department:{NODE}/{CHECKER}",
            "intercept",
            reply.checked_at,
        )
        assert len(events) == 1
        rows.append((row, events[0]))
    first_row, first_event = rows[0]
    for row, event in rows[1:]:
        # The same row and event but for the check's own id and time.
        assert row.purpose == first_row.purpose == PURPOSE
        assert (row.domain, row.case_id, row.subject) == (
            first_row.domain,
            first_row.case_id,
            first_row.subject,
        )
        assert (event.actor, event.fingerprint, event.action, event.decision) == (
            first_event.actor,
            first_event.fingerprint,
            first_event.action,
            first_event.decision,
        )
        assert (event.subject, event.purpose, event.case_id, event.records) == (
            first_event.subject,
            first_event.purpose,
            first_event.case_id,
            first_event.records,
        )
    assert first_event.actor == f"department:{NODE}/{CHECKER}"
    assert len(first_event.fingerprint) == 64


def _operations_url(log: Path) -> str:
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        if '"operations.listening"' in line:
            return str(json.loads(line)["url"])
    raise AssertionError("the node did not log its operations listener")


def test_the_node_counts_the_frontends_checks(keystore: Keystore, node: _Node) -> None:
    url = _operations_url(node.process.log)
    key = ("gateway_checks_total", (("decision", "intercept"), ("domain", "procurement")))
    before = scrape(url).get(key, 0.0)
    for port in node.frontends:
        _check(keystore, CHECKER, node.endpoint(port))
    assert scrape(url)[key] == before + 2


def test_a_frontend_serves_only_check(keystore: Keystore, node: _Node) -> None:
    with client_channel(keystore.client(NODE, CHECKER), node.endpoint(node.frontends[0])) as ch:
        stub = discipline_pb2_grpc.DisciplineStub(ch)
        with pytest.raises(grpc.RpcError) as refused:
            stub.PendingFeedback(discipline_pb2.PendingFeedbackRequest(), timeout=30)
    assert refused.value.code() is grpc.StatusCode.UNIMPLEMENTED


def test_a_revoked_certificate_is_refused_at_a_frontend_as_at_the_node(
    keystore: Keystore, node: _Node
) -> None:
    revoke = run_gateway(
        "pki", "revoke", "--config", str(node.config),
        "--client", str(keystore.client(NODE, REVOKED)), "--reason", "laptop stolen", "--json",
    )  # fmt: skip
    assert revoke.returncode == 0, revoke.stderr
    for port in (node.process.port, *node.frontends):
        with pytest.raises(grpc.RpcError) as refused:
            _check(keystore, REVOKED, node.endpoint(port))
        assert refused.value.code() is grpc.StatusCode.PERMISSION_DENIED

    events = _denied(node, "certificate:revoked")
    assert len(events) == 3
    assert {(e.actor, e.action, e.fingerprint, e.detail) for e in events} == {
        (
            f"department:{NODE}/{REVOKED}",
            "/gateway.v1.Discipline/Check",
            events[0].fingerprint,
            events[0].detail,
        )
    }
    assert "laptop stolen" in events[0].detail


def test_a_killed_frontend_is_replaced_on_its_port_and_no_acknowledged_check_is_lost(
    keystore: Keystore, node: _Node
) -> None:
    port = node.frontends[0]
    old_pid = _frontend_pids(node.process.log)[port]
    acknowledged: dict[str, str] = {}
    request_ids = [uuid.uuid4().hex for _ in range(40)]
    for i, request_id in enumerate(request_ids):
        if i == 20:
            os.kill(old_pid, signal.SIGKILL)
        # A department retries with the same request id until answered (bounded).
        for _attempt in range(300):
            try:
                reply = _check(keystore, CHECKER, node.endpoint(port), request_id)
            except grpc.RpcError as exc:
                if exc.code() is not grpc.StatusCode.UNAVAILABLE:
                    raise
                time.sleep(0.2)
                continue
            acknowledged[request_id] = reply.check_id
            break
    assert list(acknowledged) == request_ids
    new_pid = _frontend_pids(node.process.log)[port]
    assert new_pid != old_pid
    assert not process_running(old_pid)
    assert process_running(new_pid)
    for check_id in acknowledged.values():
        row, events = _stored(node, check_id)
        assert row.check_id == check_id
        assert len(events) == 1


def test_a_frontend_starts_and_serves_without_the_nodes_signing_and_ca_keys(
    keystore: Keystore, node: _Node
) -> None:
    # The node holds its keys in memory; a frontend started now finds neither the
    # signing key nor the CA key on disk and must serve checks all the same.
    port = node.frontends[1]
    old_pid = _frontend_pids(node.process.log)[port]
    paths = NodePaths.of(keystore.node(NODE))
    hidden = [
        (key, key.with_name(key.name + ".hidden")) for key in (paths.signing_key, paths.ca_key)
    ]
    for key, away in hidden:
        key.rename(away)
    try:
        os.kill(old_pid, signal.SIGKILL)
        _wait_for(
            lambda: _frontend_pids(node.process.log)[port] != old_pid, "the frontend replaced"
        )
        reply = _check(keystore, CHECKER, node.endpoint(port))
    finally:
        for key, away in hidden:
            away.rename(key)
    assert reply.decision == "intercept"
    row, events = _stored(node, reply.check_id)
    assert (row.decision, len(events)) == ("intercept", 1)


def test_no_frontend_outlives_the_node(keystore: Keystore, tmp_path: Path) -> None:
    for stop in ("terminate", "kill"):
        workdir = tmp_path / stop
        workdir.mkdir()
        config = init_node(keystore, NODE, workdir)
        set_config_keys(config, "check", frontends=2)
        process = start_node(config, NODE, log=workdir / "node.log")
        pids = list(_frontend_pids(process.log).values())
        assert len(pids) == 2
        assert all(process_running(pid) for pid in pids)
        if stop == "terminate":
            assert process.terminate() == 0
        else:
            process.kill()
        _wait_for(functools.partial(_all_gone, pids), f"frontends gone ({stop})")


def test_a_frontend_port_a_stranger_holds_fails_the_start_naming_the_port(
    keystore: Keystore, tmp_path: Path
) -> None:
    # A stranger's listening socket that offers to share its port (SO_REUSEPORT), as one
    # would to take a share of the checks: gRPC's default would bind beside it.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as stranger:
        stranger.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        stranger.bind(("127.0.0.1", 0))
        stranger.listen()
        taken = f"127.0.0.1:{stranger.getsockname()[1]}"
        config = init_node(keystore, NODE, tmp_path)
        set_config_keys(config, "check", frontends=1, frontend_listen=[taken])
        started = subprocess.run(
            gateway_command("serve", "--config", str(config), "--log-json"),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert started.returncode == 1, started.stdout + started.stderr
    assert taken in started.stderr
    assert "serving node" not in started.stdout
