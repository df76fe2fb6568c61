"""The current RPC as use cases see it: its authenticated caller, and whether it is still wanted."""

from __future__ import annotations

from contextvars import ContextVar

import grpc

from gateway.core.errors import AccessDeniedError
from gateway.core.principal import Principal
from gateway.node.cancellation import Cancellation

__all__ = ["call_cancellation", "current_principal", "principal_var"]

principal_var: ContextVar[Principal | None] = ContextVar("principal", default=None)


def current_principal() -> Principal:
    """The caller of the RPC being served.

    Raises:
        AccessDeniedError: if no interceptor authenticated this call (fail closed).
    """
    principal = principal_var.get()
    if principal is None:
        raise AccessDeniedError("call is not authenticated", rule="authn:missing")
    return principal


def call_cancellation(context: grpc.ServicerContext) -> Cancellation:
    """The node's cancellation port for this call: cancelled by its client, or past its deadline.

    gRPC marks a call inactive when its client cancels it or its deadline
    passes; the time left tells the two apart.
    """
    return Cancellation(still_wanted=context.is_active, time_left_s=context.time_remaining)
