"""The current RPC as use cases see it: its authenticated caller, and whether it is still wanted."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import TypeVar

import grpc

from gateway.core.errors import AccessDeniedError
from gateway.core.principal import Principal
from gateway.node.cancellation import Cancellation

__all__ = ["call_cancellation", "client_messages", "current_principal", "principal_var"]

T = TypeVar("T")

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


def client_messages(
    messages: Iterator[T], cancel: Cancellation, progress: Callable[[], str]
) -> Iterator[T]:
    """The messages of a client stream, ending in the domain's error when the call stops.

    gRPC raises a bare ``RpcError`` from the request iterator of a call its
    client cancelled (or whose deadline passed); here that becomes
    :class:`~gateway.core.errors.CallCancelledError` (or ``CallDeadlineError``)
    naming ``progress()``, so the call is audited as stopped rather than logged
    as an internal failure. Each message is checked for before it is handled.

    Raises:
        CallCancelledError: the call is no longer wanted.
    """
    while True:
        try:
            message = next(messages)
        except StopIteration:
            return
        except grpc.RpcError:
            cancel.check(progress())
            raise
        cancel.check(progress())
        yield message
