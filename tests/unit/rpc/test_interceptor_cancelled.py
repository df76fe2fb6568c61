"""A call whose work stopped because its caller left is answered, observed and audited as such."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import pytest

from gateway.core.audit import AuditEvent, Decision
from gateway.core.errors import CallCancelledError, CallDeadlineError
from gateway.core.principal import Principal, Role
from gateway.rpc.interceptor import GatewayInterceptor
from tests.support.call_context import AbortedError, CallDetails, FakeContext

EXPORT = "/gateway.v1.Records/Export"
AUDITOR = Principal(Role.AUDITOR, "330500", "audit-office", None, "ab" * 32)


def _wrap(interceptor: GatewayInterceptor, handler: grpc.RpcMethodHandler[Any, Any]) -> Any:
    def continuation(details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler[Any, Any]:
        return handler

    return interceptor.intercept_service(continuation, CallDetails(EXPORT))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("error", "code", "rule"),
    [
        (
            CallCancelledError("the caller cancelled the call; stopped after 2 pages"),
            grpc.StatusCode.CANCELLED,
            "call:cancelled",
        ),
        (
            CallDeadlineError("the call's deadline passed; stopped after 2 pages"),
            grpc.StatusCode.DEADLINE_EXCEEDED,
            "call:deadline-exceeded",
        ),
    ],
)
def test_a_stopped_stream_is_audited_once_with_how_far_it_went(
    error: CallCancelledError, code: grpc.StatusCode, rule: str
) -> None:
    audited: list[AuditEvent] = []
    observed: list[tuple[str, str]] = []
    interceptor = GatewayInterceptor(
        node_id="330500",
        authenticate=lambda context: AUDITOR,
        audit=audited.append,
        clock=lambda: 1_760_000_000,
        access={EXPORT: frozenset({Role.AUDITOR})},
        observe=lambda method, status, _seconds: observed.append((method, status)),
    )

    def export(request: str, context: Any) -> Iterator[str]:
        yield "first"
        raise error

    wrapped = _wrap(interceptor, grpc.unary_stream_rpc_method_handler(export))
    context = FakeContext()
    stream = wrapped.unary_stream("request", context)

    assert next(stream) == "first"
    with pytest.raises(AbortedError):
        next(stream)

    assert context.aborted == (code, str(error))
    assert observed == [(EXPORT, code.name)]
    [event] = audited
    assert (event.action, event.decision, event.rule, event.detail) == (
        EXPORT,
        Decision.ALLOWED,
        rule,
        str(error),
    )
    assert (event.actor, event.address) == (AUDITOR.actor, "ipv4:127.0.0.1:5000")


def test_a_stream_grpc_stops_taking_is_audited_with_the_responses_taken() -> None:
    audited: list[AuditEvent] = []
    closed: list[bool] = []
    interceptor = GatewayInterceptor(
        node_id="330500",
        authenticate=lambda context: AUDITOR,
        audit=audited.append,
        clock=lambda: 1_760_000_000,
        access={EXPORT: frozenset({Role.AUDITOR})},
    )

    def export(request: str, context: Any) -> Iterator[int]:
        try:
            yield from range(100)
        finally:
            closed.append(True)

    stream = _wrap(interceptor, grpc.unary_stream_rpc_method_handler(export)).unary_stream(
        "request", FakeContext()
    )
    assert [next(stream), next(stream), next(stream)] == [0, 1, 2]
    stream.close()  # what gRPC does once the caller has cancelled

    assert closed == [True]  # the use case's work ended with the call
    [event] = audited
    assert (event.action, event.decision, event.rule, event.detail) == (
        EXPORT,
        Decision.ALLOWED,
        "call:cancelled",
        "the caller cancelled the call; stopped after 3 responses",
    )
