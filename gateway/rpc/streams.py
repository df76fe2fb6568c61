"""Streams cannot freeze a node: admission limits, and idle and total deadlines.

The server runs each call on a thread of a fixed pool, and a stream keeps its
thread for as long as it is open, even when its client sends nothing. Without
bounds, a client opening idle streams takes every thread and checks and health
calls queue behind them. :class:`StreamGuard` is a server interceptor that,
for every streaming method (Submit, Push, Pull, Export, health Watch,
reflection):

- admits at most ``max_streams`` streams at once, all callers together, so
  that unary calls (checks, health) always find a thread; at most
  ``max_streams_per_client`` per client and ``max_streams_per_peer`` per peer
  node. A stream beyond a limit is refused at once with ``RESOURCE_EXHAUSTED``
  naming the limit;
- ends a stream on which nothing moved (no request received, no response
  taken) for ``idle_s`` seconds, and any stream open longer than ``max_s``
  seconds. A reaper thread cancels such a call: its client sees ``CANCELLED``
  and the reason is logged.

It runs inside :class:`~gateway.rpc.interceptor.GatewayInterceptor` (listed
after it), which has authenticated the caller and maps the refusal to a status.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import grpc
import structlog

from gateway.core.errors import LimitExceededError
from gateway.core.principal import Principal, Role
from gateway.rpc.context import principal_var

__all__ = ["StreamGuard", "StreamLimits", "StreamRegistry"]

log = structlog.get_logger("gateway.streams")

if TYPE_CHECKING:
    Handler = grpc.RpcMethodHandler[Any, Any]


@dataclass(frozen=True, slots=True)
class StreamLimits:
    """Bounds on streaming calls; units in the names."""

    max_streams: int = 8
    """Streams open at once, all callers together; below the worker count."""
    max_streams_per_client: int = 4
    """Streams open at once for one client (department, auditor, admin)."""
    max_streams_per_peer: int = 4
    """Streams open at once for one peer node."""
    idle_s: float = 60.0
    """A stream on which nothing moves for this long is ended."""
    max_s: float = 1800.0
    """A stream open for this long is ended, whatever it does."""


@dataclass(eq=False)
class _Stream:
    method: str
    key: str
    context: grpc.ServicerContext
    started: float
    last_activity: float
    ended: str | None = field(default=None)


class StreamRegistry:
    """The open streams: admission by count, and the deadlines the reaper enforces."""

    def __init__(
        self, limits: StreamLimits, *, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._limits = limits
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._open: set[_Stream] = set()
        self._per_key: Counter[str] = Counter()
        self._reaper: threading.Thread | None = None

    def open(
        self, principal: Principal | None, method: str, context: grpc.ServicerContext
    ) -> _Stream:
        """Admit a stream, or refuse it naming the limit.

        Raises:
            LimitExceededError: the server's, the client's or the peer's limit is reached.
        """
        limits = self._limits
        if principal is None:
            key, limit, whose = "unauthenticated", limits.max_streams_per_client, "client"
        elif principal.role is Role.NODE:
            key, limit, whose = f"node:{principal.node_id}", limits.max_streams_per_peer, "peer"
        else:
            key, limit, whose = principal.actor, limits.max_streams_per_client, "client"
        now = self._monotonic()
        with self._lock:
            if self._per_key[key] >= limit:
                raise LimitExceededError(
                    f"{whose} {key} has {limit} streams open, the most allowed at once"
                )
            if len(self._open) >= limits.max_streams:
                raise LimitExceededError(
                    f"this node has {limits.max_streams} streams open, the most allowed at once"
                )
            stream = _Stream(method, key, context, now, now)
            self._open.add(stream)
            self._per_key[key] += 1
            if self._reaper is None:
                self._reaper = threading.Thread(
                    target=self._reap, name="stream-reaper", daemon=True
                )
                self._reaper.start()
        return stream

    def close(self, stream: _Stream) -> None:
        with self._lock:
            if stream in self._open:
                self._open.discard(stream)
                self._per_key[stream.key] -= 1
                if not self._per_key[stream.key]:
                    del self._per_key[stream.key]

    def touch(self, stream: _Stream) -> None:
        """Something moved on the stream: its idle time starts again."""
        stream.last_activity = self._monotonic()

    @property
    def open_count(self) -> int:
        with self._lock:
            return len(self._open)

    def overdue(self) -> list[tuple[_Stream, str]]:
        """Streams past a deadline, each with why; marks them ended (returned once)."""
        now = self._monotonic()
        limits = self._limits
        due: list[tuple[_Stream, str]] = []
        with self._lock:
            for stream in self._open:
                if stream.ended is not None:
                    continue
                if now - stream.started >= limits.max_s:
                    stream.ended = f"open for over {limits.max_s:g} s"
                elif now - stream.last_activity >= limits.idle_s:
                    stream.ended = f"idle for over {limits.idle_s:g} s"
                else:
                    continue
                due.append((stream, stream.ended))
        return due

    def end_overdue(self) -> None:
        """Cancel every stream past a deadline, logging why."""
        for stream, reason in self.overdue():
            log.warning("stream ended", rpc=stream.method, caller=stream.key, reason=reason)
            stream.context.cancel()

    def _reap(self) -> None:
        # Ticks often enough to end a stream within a small part of its idle time;
        # leaves when no stream is open, and the next admission starts another.
        tick = max(0.05, min(1.0, self._limits.idle_s / 10))
        while True:
            time.sleep(tick)
            self.end_overdue()
            with self._lock:
                if not self._open:
                    self._reaper = None
                    return


class StreamGuard(grpc.ServerInterceptor):
    """Applies a :class:`StreamRegistry` to every streaming method; unary calls pass through."""

    def __init__(self, limits: StreamLimits) -> None:
        self.registry = StreamRegistry(limits)

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Handler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        handler = continuation(handler_call_details)
        if handler is None or not (handler.request_streaming or handler.response_streaming):
            return handler
        method: str = handler_call_details.method
        codec: dict[str, Any] = {
            "request_deserializer": handler.request_deserializer,
            "response_serializer": handler.response_serializer,
        }
        if handler.stream_stream is not None:
            return grpc.stream_stream_rpc_method_handler(
                self._streaming(handler.stream_stream, method, requests=True), **codec
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                self._streaming(handler.unary_stream, method, requests=False), **codec
            )
        if handler.stream_unary is not None:
            return grpc.stream_unary_rpc_method_handler(
                self._request_stream(handler.stream_unary, method), **codec
            )
        return handler

    def _watched(self, stream: _Stream, requests: Iterator[Any]) -> Iterator[Any]:
        return _Watched(self.registry, stream, requests)

    def _streaming(
        self, behavior: Callable[..., Iterator[Any]], method: str, *, requests: bool
    ) -> Callable[..., Iterator[Any]]:
        registry = self.registry

        def wrapped(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            stream = registry.open(principal_var.get(), method, context)
            try:
                incoming = self._watched(stream, request) if requests else request
                for response in behavior(incoming, context):
                    registry.touch(stream)
                    yield response
                    # The client took it: a send blocked on a client that does not
                    # read counts as idle until here.
                    registry.touch(stream)
            finally:
                registry.close(stream)

        return wrapped

    def _request_stream(self, behavior: Callable[..., Any], method: str) -> Callable[..., Any]:
        registry = self.registry

        def wrapped(request: Iterator[Any], context: grpc.ServicerContext) -> Any:
            stream = registry.open(principal_var.get(), method, context)
            try:
                return behavior(self._watched(stream, request), context)
            finally:
                registry.close(stream)

        return wrapped


class _Watched(Iterator[Any]):
    """A stream's requests, each one touching the stream.

    Not a generator: every ``next`` reaches gRPC's iterator, also after its end,
    which is how :func:`gateway.rpc.context.client_messages` tells a half-close
    from a cancel.
    """

    def __init__(self, registry: StreamRegistry, stream: _Stream, requests: Iterator[Any]) -> None:
        self._registry = registry
        self._stream = stream
        self._requests = requests

    def __next__(self) -> Any:
        request = next(self._requests)
        self._registry.touch(self._stream)
        return request
