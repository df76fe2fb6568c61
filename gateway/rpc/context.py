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

    A cancel can also end the iterator as if the client had closed its side:
    the read gRPC has pending comes back empty on a cancel as on a half-close,
    and when the server handles that read before the cancel's own notice (one
    call in seven under load), the iterator stops instead of raising. So the
    end of the stream is confirmed by asking for one more message: after a
    half-close that read ends at once again; after a cancel gRPC has recorded
    the cancel by then and raises. ``messages`` must pass every ``next`` on to
    gRPC's iterator (a generator would stop at its first end).

    Raises:
        CallCancelledError: the call is no longer wanted.
    """
    while True:
        try:
            message = next(messages)
        except StopIteration:
            _confirm_end(messages, cancel, progress)
            return
        except grpc.RpcError:
            cancel.check(progress())
            raise
        cancel.check(progress())
        yield message


def _confirm_end(messages: Iterator[T], cancel: Cancellation, progress: Callable[[], str]) -> None:
    """Return if the client closed its side of the stream; raise if the call was cancelled."""
    try:
        next(messages)
    except StopIteration:
        # A half-close; only the deadline may have passed since.
        cancel.check(progress())
        return
    except grpc.RpcError:
        cancel.check(progress())
        raise
    raise AssertionError("a message after the end of the client's stream")  # pragma: no cover
