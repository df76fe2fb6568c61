"""A unary call whose answer was computed but whose caller cancelled before it was sent is
audited as undelivered, with the caller: built with a real gRPC server and client."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent import futures
from typing import Any

import grpc
import pytest

from gateway.core.audit import AuditEvent, Decision
from gateway.core.principal import Principal, Role
from gateway.rpc.interceptor import GatewayInterceptor

CHECK = "/gateway.v1.Discipline/Check"
DEPARTMENT = Principal(Role.DEPARTMENT, "330500", "procurement-office", "procurement", "ab" * 32)


class _Node:
    """A loopback server behind the gateway's interceptor, serving one unary method whose
    work ends only once the call has ended (the test's hook: the cancel lands between the
    work and the answer)."""

    def __init__(self, *, wait_for_cancel: bool) -> None:
        self.audited: list[AuditEvent] = []
        self.worked = threading.Event()
        self.audit_written = threading.Event()
        self._wait_for_cancel = wait_for_cancel
        interceptor = GatewayInterceptor(
            node_id="330500",
            authenticate=lambda context: DEPARTMENT,
            audit=self._audit,
            clock=lambda: 1_760_000_000,
            access={CHECK: frozenset({Role.DEPARTMENT})},
        )
        self.server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=2), interceptors=[interceptor]
        )
        self.server.add_generic_rpc_handlers(
            [
                grpc.method_handlers_generic_handler(
                    "gateway.v1.Discipline",
                    {"Check": grpc.unary_unary_rpc_method_handler(self._check)},
                )
            ]
        )
        self.port = self.server.add_insecure_port("127.0.0.1:0")

    def _audit(self, event: AuditEvent) -> None:
        self.audited.append(event)
        self.audit_written.set()

    def _check(self, request: bytes, context: grpc.ServicerContext) -> bytes:
        ended = threading.Event()
        context.add_callback(ended.set)
        self.worked.set()  # the work is done (a real node has committed it by now)
        if self._wait_for_cancel:
            ended.wait(60)
        return b"answer to " + request

    def call(self) -> Any:
        channel = grpc.insecure_channel(f"127.0.0.1:{self.port}")
        return channel, channel.unary_unary(CHECK)


@pytest.fixture
def node(request: pytest.FixtureRequest) -> Iterator[_Node]:
    started = _Node(wait_for_cancel=request.param)
    started.server.start()
    try:
        yield started
    finally:
        started.server.stop(None).wait()


@pytest.mark.parametrize("node", [True], indirect=True)
def test_an_answer_the_caller_cancelled_before_it_was_sent_is_audited_undelivered(
    node: _Node,
) -> None:
    channel, check = node.call()
    with channel:
        call = check.future(b"subject-1")
        assert node.worked.wait(60)
        assert call.cancel()
        with pytest.raises(grpc.FutureCancelledError):
            call.result()
    assert node.audit_written.wait(60)

    [event] = node.audited
    assert (event.action, event.decision, event.rule, event.detail) == (
        CHECK,
        Decision.ALLOWED,
        "call:cancelled:answer-undelivered",
        "the caller cancelled the call; stopped after the answer: "
        "the work was done, the answer was not sent",
    )
    assert event.actor == DEPARTMENT.actor
    assert event.address.startswith("ipv4:127.0.0.1:")


@pytest.mark.parametrize("node", [False], indirect=True)
def test_an_answer_sent_is_not_audited_undelivered(node: _Node) -> None:
    channel, check = node.call()
    with channel:
        # Answered: the interceptor had returned, auditing nothing more.
        assert check(b"subject-1", timeout=60) == b"answer to subject-1"

    assert node.audited == []
