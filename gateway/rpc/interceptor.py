"""One server interceptor: authenticate, authorise, bind log context, map errors.

Every RPC passes through :class:`GatewayInterceptor`:

1. the caller's certificate (already verified by mutual TLS) becomes a
   :class:`~gateway.core.principal.Principal`;
2. the method must be in the access table and allow the caller's role
   (fail closed: a method missing from the table is refused for everyone);
3. ``rpc`` and ``peer`` are bound to the structlog context;
4. a :class:`~gateway.core.errors.GatewayError` is logged with its detail and
   the call aborted with the public status from :mod:`gateway.rpc.errors`;
   anything else becomes ``INTERNAL``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NoReturn, Protocol

import grpc
import structlog

from gateway.core.errors import AccessDeniedError, GatewayError, PolicyError
from gateway.core.principal import Principal, Role
from gateway.rpc.context import principal_var
from gateway.rpc.errors import public_status

__all__ = ["AccessTable", "Authenticator", "DenialSink", "GatewayInterceptor", "RpcObserver"]

log = structlog.get_logger("gateway.rpc")

_REPORTED = "denial already reported by the interceptor"

AccessTable = Mapping[str, frozenset[Role]]
"""Full method name (``/gateway.v1.Records/Get``) -> roles allowed to call it."""


class Authenticator(Protocol):
    """Turns a call's TLS context into a principal, or raises AccessDeniedError."""

    def __call__(self, context: grpc.ServicerContext) -> Principal: ...


if TYPE_CHECKING:
    # The stubs make it generic; at run time the class is not subscriptable.
    Handler = grpc.RpcMethodHandler[Any, Any]

DenialSink = Callable[[Principal | None, str, GatewayError], None]
"""Told of every refused call (authentication or policy), e.g. the audit log."""

RpcObserver = Callable[[str, str, float], None]
"""Told of every answered call: full method name, status code name, seconds (metrics)."""


class GatewayInterceptor(grpc.ServerInterceptor):
    """Authenticates, authorises and maps errors for every RPC."""

    def __init__(
        self,
        *,
        authenticate: Authenticator,
        access: AccessTable,
        on_denied: DenialSink | None = None,
        observe: RpcObserver | None = None,
    ) -> None:
        self._authenticate = authenticate
        self._access = dict(access)
        self._on_denied = on_denied
        self._observe = observe

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Handler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        method: str = handler_call_details.method
        codec: dict[str, Any] = {
            "request_deserializer": handler.request_deserializer,
            "response_serializer": handler.response_serializer,
        }
        if handler.stream_stream is not None:
            wrapped = self._wrap_stream(handler.stream_stream, method)
            return grpc.stream_stream_rpc_method_handler(wrapped, **codec)
        if handler.stream_unary is not None:
            wrapped = self._wrap_unary(handler.stream_unary, method)
            return grpc.stream_unary_rpc_method_handler(wrapped, **codec)
        if handler.unary_stream is not None:
            wrapped = self._wrap_stream(handler.unary_stream, method)
            return grpc.unary_stream_rpc_method_handler(wrapped, **codec)
        if handler.unary_unary is not None:
            wrapped = self._wrap_unary(handler.unary_unary, method)
            return grpc.unary_unary_rpc_method_handler(wrapped, **codec)
        return None

    def _admit(self, method: str, context: grpc.ServicerContext) -> Principal:
        principal: Principal | None = None
        try:
            principal = self._authenticate(context)
            allowed = self._access.get(method)
            if allowed is None or principal.role not in allowed:
                raise AccessDeniedError(
                    f"{method} is not allowed for role {principal.role.value}",
                    rule=f"access-table:{method}",
                )
        except PolicyError as exc:
            if self._on_denied is not None:
                self._on_denied(principal, method, exc)
            exc.add_note(_REPORTED)
            raise
        return principal

    def _wrap_unary(self, behavior: Callable[..., Any], method: str) -> Callable[..., Any]:
        def wrapped(request: Any, context: grpc.ServicerContext) -> Any:
            # Each call starts from a clean log context (threads are reused by the pool).
            structlog.contextvars.clear_contextvars()
            with (
                structlog.contextvars.bound_contextvars(rpc=method, peer=context.peer()),
                self._observed(method) as outcome,
            ):
                try:
                    token = principal_var.set(self._admit(method, context))
                    try:
                        return behavior(request, context)
                    finally:
                        principal_var.reset(token)
                except Exception as exc:  # noqa: BLE001 - mapped to a status below
                    outcome.append(public_status(exc).code.name)
                    self._abort(context, method, exc)

        return wrapped

    def _wrap_stream(self, behavior: Callable[..., Any], method: str) -> Callable[..., Any]:
        def wrapped(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            # Each call starts from a clean log context (threads are reused by the pool).
            structlog.contextvars.clear_contextvars()
            with (
                structlog.contextvars.bound_contextvars(rpc=method, peer=context.peer()),
                self._observed(method) as outcome,
            ):
                try:
                    token = principal_var.set(self._admit(method, context))
                    try:
                        yield from behavior(request, context)
                    finally:
                        principal_var.reset(token)
                except Exception as exc:  # noqa: BLE001 - mapped to a status below
                    outcome.append(public_status(exc).code.name)
                    self._abort(context, method, exc)

        return wrapped

    @contextmanager
    def _observed(self, method: str) -> Iterator[list[str]]:
        """Time the call; the block appends the status code name if it fails (else OK)."""
        started = time.perf_counter()
        outcome: list[str] = []
        try:
            yield outcome
        except GeneratorExit:
            # A streaming call the client left before its end.
            outcome.append("CANCELLED")
            raise
        finally:
            if self._observe is not None:
                code = outcome[0] if outcome else "OK"
                self._observe(method, code, time.perf_counter() - started)

    def _abort(self, context: grpc.ServicerContext, method: str, exc: Exception) -> NoReturn:
        status = public_status(exc)
        if isinstance(exc, GatewayError):
            reported = _REPORTED in getattr(exc, "__notes__", ())
            if isinstance(exc, PolicyError) and self._on_denied is not None and not reported:
                self._on_denied(principal_var.get(), method, exc)
            log.warning(
                "rpc refused",
                error=type(exc).__name__,
                detail=str(exc),
                code=status.code.name,
            )
        else:
            log.error("rpc failed", exc_info=exc, code=status.code.name)
        context.abort(status.code, status.message)
        raise AssertionError("context.abort returned")  # pragma: no cover - abort raises
