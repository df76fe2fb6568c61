"""One server interceptor: authenticate, authorise, bind log context, map errors, audit refusals.

Every RPC passes through :class:`GatewayInterceptor`:

1. the caller's certificate (already verified by mutual TLS) becomes a
   :class:`~gateway.core.principal.Principal`;
2. a client certificate is honoured only at the node that issued it (a
   department of Changsha has no business at the national node);
3. the method must be in the access table and allow the caller's role
   (fail closed: a method missing from the table is refused for everyone);
4. ``rpc`` and ``peer`` are bound to the structlog context;
5. a :class:`~gateway.core.errors.GatewayError` is logged with its detail and
   the call aborted with the public status from :mod:`gateway.rpc.errors`;
   anything else becomes ``INTERNAL``; a call whose work stopped because its
   caller cancelled it or its deadline passed
   (:class:`~gateway.core.errors.CallCancelledError`) is audited as such.

Every refusal that is the caller's doing (policy, verification, bad input) is
written to the audit log exactly once, with the caller's identity, address,
certificate fingerprint and the rule: here, unless the use case already wrote
a richer event for it (see :func:`gateway.core.audit.mark_audited`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Any, NoReturn, Protocol

import grpc
import structlog

from gateway.core.audit import (
    AuditEvent,
    Decision,
    error_detail,
    error_rule,
    event_by,
    is_audited,
    mark_audited,
)
from gateway.core.errors import (
    AccessDeniedError,
    CallCancelledError,
    CallDeadlineError,
    GatewayError,
    InputError,
    PolicyError,
    VerificationError,
)
from gateway.core.principal import Principal, Role
from gateway.rpc.context import call_cancellation, principal_var
from gateway.rpc.errors import public_status

__all__ = [
    "AccessTable",
    "AuditSink",
    "Authenticator",
    "GatewayInterceptor",
    "RpcObserver",
    "check_home_node",
]

log = structlog.get_logger("gateway.rpc")

AccessTable = Mapping[str, frozenset[Role]]
"""Full method name (``/gateway.v1.Records/Get``) -> roles allowed to call it."""

AuditSink = Callable[[AuditEvent], None]
"""Appends one event to the node's audit log."""

_REFUSALS = (PolicyError, VerificationError, InputError)
"""Errors that are the caller's doing: each is a refusal, audited."""


class Authenticator(Protocol):
    """Turns a call's TLS context into a principal, or raises AccessDeniedError."""

    def __call__(self, context: grpc.ServicerContext) -> Principal: ...


if TYPE_CHECKING:
    # The stubs make it generic; at run time the class is not subscriptable.
    Handler = grpc.RpcMethodHandler[Any, Any]

RpcObserver = Callable[[str, str, float], None]
"""Told of every answered call: full method name, status code name, seconds (metrics)."""


def check_home_node(principal: Principal, node_id: str) -> None:
    """Refuse a client whose certificate was issued by another node than ``node_id``.

    Nodes call each other with their own certificates; whether a node may make a
    given call is for the access table and the use case to say.

    Raises:
        AccessDeniedError: rule ``authn:client-of-another-node``.
    """
    if principal.role is not Role.NODE and principal.node_id != node_id:
        raise AccessDeniedError(
            f"a client certificate of node {principal.node_id} is valid only there, "
            f"not at node {node_id}",
            rule="authn:client-of-another-node",
        )


class GatewayInterceptor(grpc.ServerInterceptor):
    """Authenticates, authorises, maps errors and audits refusals for every RPC."""

    def __init__(
        self,
        *,
        node_id: str,
        authenticate: Authenticator,
        access: AccessTable,
        audit: AuditSink,
        clock: Callable[[], int],
        observe: RpcObserver | None = None,
        revoked: Callable[[Principal, str], None] | None = None,
    ) -> None:
        self._node_id = node_id
        self._revoked = revoked
        self._authenticate = authenticate
        self._access = dict(access)
        self._audit = audit
        self._clock = clock
        self._observe = observe
        # Method -> (the handler gRPC gave, its wrapped handler): gRPC asks the
        # interceptor on every call, and the wrapping depends only on the handler.
        self._wrapped: dict[str, tuple[Handler, Handler]] = {}

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Handler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        method: str = handler_call_details.method
        kept = self._wrapped.get(method)
        if kept is not None and kept[0] is handler:
            return kept[1]
        wrapped = self._wrap(handler, method)
        if wrapped is not None:
            self._wrapped[method] = (handler, wrapped)
        return wrapped

    def _wrap(self, handler: Handler, method: str) -> Handler | None:
        """``handler`` with every call passing through the interceptor."""
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
            check_home_node(principal, self._node_id)
            if self._revoked is not None:
                # Raises for a revoked certificate, whatever the method.
                self._revoked(principal, method)
            allowed = self._access.get(method)
            if allowed is None or principal.role not in allowed:
                raise AccessDeniedError(
                    f"{method} is not allowed for role {principal.role.value}",
                    rule=f"access-table:{method}",
                )
        except PolicyError as exc:
            self._refused(principal, context, method, exc)
            raise
        return principal

    def _wrap_unary(self, behavior: Callable[..., Any], method: str) -> Callable[..., Any]:
        # What _observed and structlog's bound_contextvars do, written out: two
        # generator context managers per call were ~4 % of a check's samples.
        observe = self._observe

        def wrapped(request: Any, context: grpc.ServicerContext) -> Any:
            started = time.perf_counter()
            code = "OK"
            # Each call starts from a clean log context (threads are reused by the pool).
            structlog.contextvars.clear_contextvars()
            bound = structlog.contextvars.bind_contextvars(rpc=method, peer=context.peer())
            try:
                principal: Principal | None = None
                try:
                    principal = self._admit(method, context)
                    token = principal_var.set(principal)
                    try:
                        response = behavior(request, context)
                    finally:
                        principal_var.reset(token)
                except Exception as exc:  # noqa: BLE001 - mapped to a status below
                    code = public_status(exc).code.name
                    self._abort(context, method, principal, exc)
                if not context.is_active():
                    # The work is done (and committed), but gRPC will not send the
                    # answer: the caller cancelled, or its deadline passed, meanwhile.
                    stopped = call_cancellation(context).stopped("after the answer")
                    code = public_status(stopped).code.name
                    self._undelivered(principal, context, method, stopped)
                return response
            finally:
                try:
                    if observe is not None:
                        observe(method, code, time.perf_counter() - started)
                finally:
                    structlog.contextvars.reset_contextvars(**bound)

        return wrapped

    def _wrap_stream(self, behavior: Callable[..., Any], method: str) -> Callable[..., Any]:
        def wrapped(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            # Each call starts from a clean log context (threads are reused by the pool).
            structlog.contextvars.clear_contextvars()
            with (
                structlog.contextvars.bound_contextvars(rpc=method, peer=context.peer()),
                self._observed(method) as outcome,
            ):
                principal: Principal | None = None
                taken = 0
                try:
                    principal = self._admit(method, context)
                    token = principal_var.set(principal)
                    responses = behavior(request, context)
                    try:
                        for response in responses:
                            taken += 1
                            yield response
                    finally:
                        principal_var.reset(token)
                        # Closed now, not when collected: a stream left early stops its work.
                        close = getattr(responses, "close", None)
                        if close is not None:
                            close()
                except GeneratorExit:
                    # gRPC stopped taking responses: the caller cancelled, or the deadline passed.
                    stopped = call_cancellation(context).stopped(f"after {taken} responses")
                    outcome.append(public_status(stopped).code.name)
                    self._cancelled(principal, context, method, stopped)
                    log.info("rpc cancelled", detail=str(stopped), code=outcome[0])
                    raise
                except Exception as exc:  # noqa: BLE001 - mapped to a status below
                    outcome.append(public_status(exc).code.name)
                    self._abort(context, method, principal, exc)

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

    def _refused(
        self,
        principal: Principal | None,
        context: grpc.ServicerContext,
        method: str,
        exc: GatewayError,
    ) -> None:
        """Audit a refusal once; a use case that audited it already has marked it."""
        if is_audited(exc):
            return
        mark_audited(exc)
        event = event_by(
            principal,
            node=self._node_id,
            time=self._clock(),
            action=method,
            decision=Decision.DENIED,
            rule=error_rule(exc),
            detail=error_detail(exc),
        )
        # The address is known even when the certificate is not.
        self._audit(replace(event, address=context.peer()))

    def _cancelled(
        self,
        principal: Principal | None,
        context: grpc.ServicerContext,
        method: str,
        exc: CallCancelledError,
    ) -> None:
        """Audit a call whose work stopped because its caller cancelled it or its deadline passed.

        It was allowed, and what it served before stopping is audited already;
        this event says it stopped, and how far it had gone.
        """
        if principal is None:
            # Refused before it was admitted: that refusal is audited already.
            return
        self._audit_stopped(principal, context, method, exc, rule_suffix="", detail=str(exc))

    def _undelivered(
        self,
        principal: Principal,
        context: grpc.ServicerContext,
        method: str,
        exc: CallCancelledError,
    ) -> None:
        """Audit a unary call whose answer was computed (its writes committed) but not sent.

        What the work wrote is audited already; this event tells an auditor that the
        caller never received the answer, and why. It is seen when the call is no longer
        active as the answer leaves the servicer. A cancel arriving after that, while
        gRPC sends the answer, is not seen: the synchronous server gives no public
        signal whether a sent answer reached the caller (a completed call and a
        cancelled one end alike for ``add_callback``), and no transport can say whether
        the caller read bytes that were sent.
        """
        detail = f"{exc}: the work was done, the answer was not sent"
        self._audit_stopped(
            principal, context, method, exc, rule_suffix=":answer-undelivered", detail=detail
        )
        log.info("rpc answer undelivered", detail=str(exc), code=public_status(exc).code.name)

    def _audit_stopped(
        self,
        principal: Principal,
        context: grpc.ServicerContext,
        method: str,
        exc: CallCancelledError,
        *,
        rule_suffix: str,
        detail: str,
    ) -> None:
        """The audit event of an allowed call its caller cancelled or let run past its deadline."""
        rule = "call:deadline-exceeded" if isinstance(exc, CallDeadlineError) else "call:cancelled"
        event = event_by(
            principal,
            node=self._node_id,
            time=self._clock(),
            action=method,
            decision=Decision.ALLOWED,
            rule=rule + rule_suffix,
            detail=detail,
        )
        self._audit(replace(event, address=context.peer()))

    def _abort(
        self,
        context: grpc.ServicerContext,
        method: str,
        principal: Principal | None,
        exc: Exception,
    ) -> NoReturn:
        status = public_status(exc)
        if isinstance(exc, CallCancelledError):
            self._cancelled(principal, context, method, exc)
            log.info("rpc cancelled", detail=str(exc), code=status.code.name)
        elif isinstance(exc, GatewayError):
            if isinstance(exc, _REFUSALS):
                self._refused(principal, context, method, exc)
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
