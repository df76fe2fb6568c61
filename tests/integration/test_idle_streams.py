"""Idle clients cannot freeze a node: a real 16-worker node over mutual TLS.

Twenty idle Submit streams from one department and twenty idle Push streams
from a directory node (the province) are opened at once. Each client gets its
per-client (per-peer) share and the rest are refused with RESOURCE_EXHAUSTED;
while the admitted streams hold their threads, a check and a health call still
answer; the server then ends the idle streams itself.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol, cast

import grpc
from grpc_health.v1 import health_pb2

from gateway._proto.v1 import (
    discipline_pb2,
    discipline_pb2_grpc,
    federation_pb2_grpc,
    intake_pb2_grpc,
)
from gateway.node.local_federation import free_port
from gateway.pki import load_node_credentials
from gateway.rpc.peer import open_peer_channel
from tests.integration.conftest import CITY
from tests.support.cluster import wait_for
from tests.support.federation import (
    Keystore,
    client_channel,
    health_check,
    init_node,
    running_node,
    sign_directory,
)
from tests.support.node_config import set_config_keys
from tests.support.records import company_code

PROVINCE = "330000"
STREAMS_EACH = 20
PER_CLIENT = 4
IDLE_S = 15


class _Call(Protocol):
    """What the test reads of a streaming call (the stubs' hints omit it)."""

    def done(self) -> bool: ...
    def code(self) -> grpc.StatusCode: ...
    def details(self) -> str: ...


def _idle(release: threading.Event) -> Iterator[object]:
    """A request stream that sends nothing until the test ends."""
    release.wait()
    yield from ()


def test_idle_streams_are_limited_and_ended_while_checks_and_health_answer(
    keystore: Keystore, tmp_path: Path
) -> None:
    port = free_port()
    directory = sign_directory(
        keystore,
        tmp_path / "directory.json",
        {"000000": "127.0.0.1:1", PROVINCE: "127.0.0.1:2", CITY: f"127.0.0.1:{port}"},
    )
    config = init_node(
        keystore,
        CITY,
        tmp_path,
        listen=f"127.0.0.1:{port}",
        extra=["--directory", str(directory)],
    )
    set_config_keys(
        config,
        "server",
        workers=16,
        max_streams=8,
        max_streams_per_client=PER_CLIENT,
        max_streams_per_peer=PER_CLIENT,
        stream_idle_s=IDLE_S,
    )
    release = threading.Event()
    with (
        running_node(config, CITY, log=tmp_path / "node.log") as node,
        client_channel(keystore.client(CITY, "procurement-office"), node.endpoint) as department,
    ):
        province = open_peer_channel(load_node_credentials(keystore.node(PROVINCE)), node.endpoint)
        try:
            submit = intake_pb2_grpc.IntakeStub(department).Submit
            push = federation_pb2_grpc.FederationStub(province).Push
            submits = [
                cast(_Call, submit(_idle(release)))  # type: ignore[arg-type]
                for _ in range(STREAMS_EACH)
            ]
            pushes = [
                cast(_Call, push(_idle(release)))  # type: ignore[arg-type]
                for _ in range(STREAMS_EACH)
            ]
            calls = [*submits, *pushes]
            refused = STREAMS_EACH * 2 - PER_CLIENT * 2
            wait_for(
                "the streams over the limits to be refused",
                lambda: sum(c.done() for c in calls) == refused or None,
                timeout_s=60,
            )
            # The admitted streams hold their threads; the node still answers.
            assert [c.done() for c in submits].count(False) == PER_CLIENT
            assert [c.done() for c in pushes].count(False) == PER_CLIENT
            verdict = discipline_pb2_grpc.DisciplineStub(department).Check(
                discipline_pb2.CheckRequest(
                    subject=company_code(1), purpose="idle streams test", case_id="CG-1"
                ),
                timeout=5,
            )
            assert verdict.decision == "clear"
            assert health_check(department) == health_pb2.HealthCheckResponse.SERVING
            assert [c.done() for c in submits].count(False) == PER_CLIENT

            wait_for(
                "the server to end the idle streams",
                lambda: all(c.done() for c in calls),
                timeout_s=IDLE_S * 4,
            )
            for group, whose in ((submits, "client department:330500/procurement-office"),
                                 (pushes, f"peer node:{PROVINCE}")):  # fmt: skip
                codes = Counter(c.code() for c in group)
                assert codes == {
                    grpc.StatusCode.RESOURCE_EXHAUSTED: STREAMS_EACH - PER_CLIENT,
                    grpc.StatusCode.CANCELLED: PER_CLIENT,
                }
                details = {
                    c.details() for c in group if c.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
                }
                assert details == {
                    f"{whose} has {PER_CLIENT} streams open, the most allowed at once"
                }
        finally:
            release.set()
            province.close()
    log = (tmp_path / "node.log").read_text()
    assert log.count('"reason": "idle for over 15 s"') == 2 * PER_CLIENT
