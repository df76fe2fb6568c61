"""The interceptor wraps a method's handler once, and still admits every call, each in its own
log context (check-lean 7: the wrapping kept per method, the unary wrapper without generator
context managers)."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
import structlog

from gateway.core.errors import NotFoundError
from gateway.core.principal import Principal, Role
from gateway.rpc.context import principal_var
from gateway.rpc.interceptor import GatewayInterceptor
from tests.support.call_context import PEER, AbortedError, CallDetails, FakeContext

HERE = "330500"
METHOD = "/gateway.v1.Records/Get"
ADMIN = Principal(Role.ADMIN, HERE, "ops", None, "ab" * 32)


def _interceptor(
    admitted: list[Principal],
    roles: dict[str, set[Role]],
    observed: list[tuple[str, str, dict[str, Any]]] | None = None,
) -> GatewayInterceptor:
    def authenticate(context: Any) -> Principal:
        admitted.append(ADMIN)
        return ADMIN

    def observe(method: str, code: str, seconds: float) -> None:
        if observed is not None:
            observed.append((method, code, structlog.contextvars.get_contextvars()))

    return GatewayInterceptor(
        node_id=HERE,
        authenticate=authenticate,
        # Read per call: a role taken out of the table after the first call is refused.
        access={METHOD: _LiveRoles(roles)},  # type: ignore[dict-item]
        audit=lambda event: None,
        clock=lambda: 1_760_000_000,
        observe=observe,
    )


class _LiveRoles:
    """An access table entry read at each call (``role in``), to change between calls."""

    def __init__(self, roles: dict[str, set[Role]]) -> None:
        self._roles = roles

    def __contains__(self, role: object) -> bool:
        return role in self._roles["now"]


def test_a_methods_handler_is_wrapped_once_and_every_call_is_still_admitted() -> None:
    admitted: list[Principal] = []
    roles = {"now": {Role.ADMIN}}
    interceptor = _interceptor(admitted, roles)
    handler: grpc.RpcMethodHandler[Any, Any] = grpc.unary_unary_rpc_method_handler(
        lambda request, context: (request, principal_var.get())
    )
    first: Any = interceptor.intercept_service(lambda d: handler, CallDetails(METHOD))  # type: ignore[arg-type]
    second: Any = interceptor.intercept_service(lambda d: handler, CallDetails(METHOD))  # type: ignore[arg-type]
    assert second is first
    assert first.unary_unary("a", FakeContext()) == ("a", ADMIN)
    assert second.unary_unary("b", FakeContext()) == ("b", ADMIN)
    assert len(admitted) == 2
    roles["now"] = set()
    refused = FakeContext()
    with pytest.raises(AbortedError):
        second.unary_unary("c", refused)
    assert refused.aborted is not None
    assert refused.aborted[0] is grpc.StatusCode.PERMISSION_DENIED
    assert len(admitted) == 3


def test_another_handler_for_the_same_method_is_wrapped_anew() -> None:
    interceptor = _interceptor([], {"now": {Role.ADMIN}})
    one: grpc.RpcMethodHandler[Any, Any] = grpc.unary_unary_rpc_method_handler(
        lambda request, context: "one"
    )
    two: grpc.RpcMethodHandler[Any, Any] = grpc.unary_unary_rpc_method_handler(
        lambda request, context: "two"
    )
    first: Any = interceptor.intercept_service(lambda d: one, CallDetails(METHOD))  # type: ignore[arg-type]
    other: Any = interceptor.intercept_service(lambda d: two, CallDetails(METHOD))  # type: ignore[arg-type]
    assert first.unary_unary("x", FakeContext()) == "one"
    assert other.unary_unary("x", FakeContext()) == "two"
    assert interceptor.intercept_service(lambda d: None, CallDetails(METHOD)) is None  # type: ignore[arg-type]


@pytest.mark.parametrize("fails", [False, True], ids=["answered", "refused"])
def test_a_calls_log_context_is_its_own_during_it_and_clean_after(fails: bool) -> None:
    observed: list[tuple[str, str, dict[str, Any]]] = []
    seen: list[dict[str, Any]] = []

    def behavior(request: str, context: Any) -> str:
        seen.append(structlog.contextvars.get_contextvars())
        if fails:
            raise NotFoundError("record R1 not found")
        return request

    interceptor = _interceptor([], {"now": {Role.ADMIN}}, observed)
    handler: grpc.RpcMethodHandler[Any, Any] = grpc.unary_unary_rpc_method_handler(behavior)
    wrapped: Any = interceptor.intercept_service(lambda d: handler, CallDetails(METHOD))  # type: ignore[arg-type]
    # Left by an earlier call on this pool thread: not part of this call's context.
    structlog.contextvars.bind_contextvars(record_id="R0")
    try:
        if fails:
            with pytest.raises(AbortedError):
                wrapped.unary_unary("R1", FakeContext())
        else:
            assert wrapped.unary_unary("R1", FakeContext()) == "R1"
        assert seen == [{"rpc": METHOD, "peer": PEER}]
        code = "NOT_FOUND" if fails else "OK"
        assert observed == [(METHOD, code, {"rpc": METHOD, "peer": PEER})]
        assert structlog.contextvars.get_contextvars() == {}
    finally:
        structlog.contextvars.clear_contextvars()
