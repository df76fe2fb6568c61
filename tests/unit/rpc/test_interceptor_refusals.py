"""Every refusal is one audit event with the caller's identity, address, fingerprint and rule;
a client certificate is honoured only at the node that issued it (issue 13 items 1 and 7).

The real-process attacks are in tests/integration/test_trust.py; these pin the interceptor's
rules in process.
"""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from gateway.core.audit import AuditEvent, Decision, mark_audited
from gateway.core.errors import AccessDeniedError, MalformedError, NotFoundError
from gateway.core.principal import Principal, Role
from gateway.rpc.interceptor import GatewayInterceptor
from tests.support.call_context import PEER, AbortedError, CallDetails, FakeContext

HERE = "330500"
METHOD = "/gateway.v1.Records/Get"
NOW = 1_760_000_000
DEPARTMENT = Principal(Role.DEPARTMENT, HERE, "procurement-office", "procurement", "ab" * 32)


def _call(principal: Principal, behavior: Any) -> tuple[FakeContext, list[AuditEvent]]:
    events: list[AuditEvent] = []
    interceptor = GatewayInterceptor(
        node_id=HERE,
        authenticate=lambda context: principal,
        access={METHOD: frozenset(Role)},
        audit=events.append,
        clock=lambda: NOW,
    )
    handler: grpc.RpcMethodHandler[Any, Any] = grpc.unary_unary_rpc_method_handler(behavior)
    wrapped: Any = interceptor.intercept_service(
        lambda details: handler,
        CallDetails(METHOD),  # type: ignore[arg-type]
    )
    context = FakeContext()
    with pytest.raises(AbortedError):
        wrapped.unary_unary("request", context)
    return context, events


def _denial(principal: Principal, rule: str, detail: str) -> AuditEvent:
    return AuditEvent(
        time=NOW,
        node=HERE,
        actor=principal.actor,
        fingerprint=principal.fingerprint,
        address=PEER,
        action=METHOD,
        decision=Decision.DENIED,
        rule=rule,
        detail=detail,
    )


def test_a_client_of_another_node_is_refused_before_the_call_and_audited_once() -> None:
    lishui_admin = Principal(Role.ADMIN, "331100", "ops", None, "cd" * 32)

    def never(request: str, context: Any) -> str:
        raise AssertionError("the servicer was called")

    context, events = _call(lishui_admin, never)

    message = "a client certificate of node 331100 is valid only there, not at node 330500"
    assert context.aborted == (grpc.StatusCode.PERMISSION_DENIED, message)
    assert events == [
        _denial(lishui_admin, "authn:client-of-another-node", f"AccessDeniedError: {message}")
    ]


def test_a_node_calling_another_node_is_not_refused_as_a_foreign_client() -> None:
    province = Principal(Role.NODE, "330000", "330000", None, "ef" * 32)
    context, events = _call(province, lambda r, c: (_ for _ in ()).throw(NotFoundError("no R1")))
    assert context.aborted == (grpc.StatusCode.NOT_FOUND, "no R1")
    assert events == []


@pytest.mark.parametrize(
    ("error", "rule"),
    [
        (AccessDeniedError("not yours", rule="status:issuer-only"), "status:issuer-only"),
        (MalformedError("bad bytes"), "MalformedError"),
    ],
)
def test_a_refusal_inside_the_service_is_audited_once_with_the_caller(
    error: Exception, rule: str
) -> None:
    def refuse(request: str, context: Any) -> str:
        raise error

    _context, events = _call(DEPARTMENT, refuse)
    assert events == [_denial(DEPARTMENT, rule, f"{type(error).__name__}: {error}")]


def test_a_refusal_the_use_case_audited_itself_is_not_audited_again() -> None:
    def refuse(request: str, context: Any) -> str:
        error = AccessDeniedError("already logged", rule="check:own-domain")
        mark_audited(error)
        raise error

    context, events = _call(DEPARTMENT, refuse)
    assert context.aborted == (grpc.StatusCode.PERMISSION_DENIED, "already logged")
    assert events == []
