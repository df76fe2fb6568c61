"""The interceptor tells its observer of every answered call: method, status code, duration."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import pytest

from gateway.core.errors import NotFoundError
from gateway.core.principal import Principal, Role
from gateway.rpc.interceptor import GatewayInterceptor
from tests.support.call_context import AbortedError, CallDetails, FakeContext

METHOD = "/gateway.v1.Records/Get"
STREAM = "/gateway.v1.Records/List"
ADMIN = Principal(Role.ADMIN, "330500", "ops", None, "ab" * 32)


def _intercept(
    observed: list[tuple[str, str, float]],
    handler: grpc.RpcMethodHandler[Any, Any],
    method: str,
    *,
    role: Role = Role.ADMIN,
) -> Any:
    interceptor = GatewayInterceptor(
        node_id="330500",
        authenticate=lambda context: ADMIN,
        audit=lambda event: None,
        clock=lambda: 1_760_000_000,
        access={METHOD: frozenset({role}), STREAM: frozenset({role})},
        observe=lambda m, code, seconds: observed.append((m, code, seconds)),
    )

    def continuation(details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler[Any, Any]:
        return handler

    return interceptor.intercept_service(continuation, CallDetails(method))  # type: ignore[arg-type]


def test_an_answered_call_is_observed_as_ok() -> None:
    observed: list[tuple[str, str, float]] = []
    wrapped = _intercept(observed, grpc.unary_unary_rpc_method_handler(lambda r, c: r), METHOD)
    assert wrapped.unary_unary("ping", FakeContext()) == "ping"
    ((method, code, seconds),) = observed
    assert (method, code) == (METHOD, "OK")
    assert seconds >= 0


def test_a_refused_call_is_observed_with_its_public_status() -> None:
    def missing(request: str, context: Any) -> str:
        raise NotFoundError("record R1 not found")

    observed: list[tuple[str, str, float]] = []
    wrapped = _intercept(observed, grpc.unary_unary_rpc_method_handler(missing), METHOD)
    context = FakeContext()
    with pytest.raises(AbortedError):
        wrapped.unary_unary("R1", context)
    assert context.aborted is not None
    assert context.aborted[0] is grpc.StatusCode.NOT_FOUND
    assert [(m, c) for m, c, _ in observed] == [(METHOD, "NOT_FOUND")]


def test_a_call_the_access_table_refuses_is_observed_as_permission_denied() -> None:
    observed: list[tuple[str, str, float]] = []
    wrapped = _intercept(
        observed, grpc.unary_unary_rpc_method_handler(lambda r, c: r), METHOD, role=Role.AUDITOR
    )
    with pytest.raises(AbortedError):
        wrapped.unary_unary("ping", FakeContext())
    assert [(m, c) for m, c, _ in observed] == [(METHOD, "PERMISSION_DENIED")]


def test_a_stream_the_client_leaves_early_is_observed_as_cancelled() -> None:
    def numbers(request: int, context: Any) -> Iterator[int]:
        yield from range(request)

    observed: list[tuple[str, str, float]] = []
    wrapped = _intercept(observed, grpc.unary_stream_rpc_method_handler(numbers), STREAM)
    stream = wrapped.unary_stream(10, FakeContext())
    assert [next(stream), next(stream)] == [0, 1]
    stream.close()
    finished = wrapped.unary_stream(3, FakeContext())
    assert list(finished) == [0, 1, 2]
    assert [(m, c) for m, c, _ in observed] == [(STREAM, "CANCELLED"), (STREAM, "OK")]
