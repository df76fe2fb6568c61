"""A client stream whose caller left ends in the domain's error, naming what was handled."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import cast

import grpc
import pytest

from gateway.core.errors import CallCancelledError, CallDeadlineError
from gateway.node.cancellation import Cancellation
from gateway.rpc.context import client_messages
from gateway.rpc.streams import StreamGuard, StreamLimits


class _StreamBrokenError(grpc.RpcError):
    """What gRPC's request iterator raises once the call is over."""


def _messages(count: int, *, cancelled: list[bool]) -> Iterator[str]:
    for i in range(count):
        yield f"m{i}"
    # The client cancels: gRPC marks the call inactive, and the iterator breaks.
    cancelled[0] = True
    raise _StreamBrokenError()


def _drain(stream: Iterator[str], handled: list[str], then: Callable[[], None]) -> None:
    for message in stream:
        handled.append(message)
        then()


def test_a_stream_cancelled_under_the_iterator_becomes_call_cancelled() -> None:
    cancelled = [False]
    handled: list[str] = []
    stream = client_messages(
        _messages(2, cancelled=cancelled),
        Cancellation(still_wanted=lambda: not cancelled[0]),
        lambda: f"after {len(handled)} messages",
    )

    with pytest.raises(CallCancelledError) as stopped:
        _drain(stream, handled, lambda: None)

    assert handled == ["m0", "m1"]
    assert str(stopped.value) == "the caller cancelled the call; stopped after 2 messages"


def test_a_message_that_arrives_after_the_deadline_is_not_handled() -> None:
    left = [5.0]
    handled: list[str] = []
    stream = client_messages(
        _messages(3, cancelled=[False]),
        Cancellation(time_left_s=lambda: left[0]),
        lambda: f"after {len(handled)} messages",
    )

    def deadline_passes() -> None:
        left[0] = 0.0

    with pytest.raises(CallDeadlineError, match=r"stopped after 1 messages$"):
        _drain(stream, handled, deadline_passes)

    assert handled == ["m0"]


def test_a_broken_stream_of_a_call_still_wanted_is_not_hidden() -> None:
    stream = client_messages(
        _messages(1, cancelled=[False]), Cancellation(), lambda: "after 1 message"
    )

    assert next(stream) == "m0"
    with pytest.raises(_StreamBrokenError):
        next(stream)


class _CancelSeenLate:
    """gRPC's iterator when the cancel's empty read is handled before the cancel's notice.

    The first read after the messages ends the stream as a half-close would; by the next
    read gRPC has recorded the cancel, and the iterator breaks.
    """

    def __init__(self, count: int, cancelled: list[bool]) -> None:
        self._left = count
        self._cancelled = cancelled
        self._ended = False

    def __iter__(self) -> _CancelSeenLate:
        return self

    def __next__(self) -> str:
        if self._left:
            self._left -= 1
            return "m"
        if not self._ended:
            self._ended = True
            raise StopIteration
        self._cancelled[0] = True
        raise _StreamBrokenError()


def test_a_cancel_that_first_looks_like_the_end_of_the_stream_becomes_call_cancelled() -> None:
    cancelled = [False]
    handled: list[str] = []
    stream = client_messages(
        _CancelSeenLate(1, cancelled),
        Cancellation(still_wanted=lambda: not cancelled[0]),
        lambda: f"after {len(handled)} messages",
    )

    with pytest.raises(CallCancelledError) as stopped:
        _drain(stream, handled, lambda: None)

    assert handled == ["m"]
    assert str(stopped.value) == "the caller cancelled the call; stopped after 1 messages"


def test_behind_the_stream_guard_the_read_that_finds_the_cancel_still_reaches_grpc() -> None:
    cancelled = [False]
    handled: list[str] = []

    def submit(requests: Iterator[str], context: grpc.ServicerContext) -> Iterator[str]:
        cancel = Cancellation(still_wanted=lambda: not cancelled[0])
        yield from client_messages(requests, cancel, lambda: f"after {len(handled)} messages")

    details = cast(grpc.HandlerCallDetails, SimpleNamespace(method="/gateway.v1.Intake/Submit"))
    guarded = StreamGuard(StreamLimits()).intercept_service(
        lambda _: grpc.stream_stream_rpc_method_handler(submit), details
    )
    assert guarded is not None
    assert guarded.stream_stream is not None
    context = cast(grpc.ServicerContext, SimpleNamespace())
    responses = guarded.stream_stream(_CancelSeenLate(1, cancelled), context)

    with pytest.raises(CallCancelledError, match=r"stopped after 1 messages$"):
        _drain(responses, handled, lambda: None)
    assert handled == ["m"]


class _HalfClosed:
    """gRPC's iterator after the client closed its side: every read past the end ends again."""

    def __init__(self, messages: list[str]) -> None:
        self._messages = messages
        self.ends_read = 0

    def __iter__(self) -> _HalfClosed:
        return self

    def __next__(self) -> str:
        if self._messages:
            return self._messages.pop(0)
        self.ends_read += 1
        raise StopIteration


def test_a_stream_its_client_closed_ends_after_every_message_once_the_end_is_confirmed() -> None:
    source = _HalfClosed(["m0", "m1"])
    handled: list[str] = []

    _drain(client_messages(source, Cancellation(), lambda: "unused"), handled, lambda: None)

    assert handled == ["m0", "m1"]
    assert source.ends_read == 2


def test_a_deadline_that_passes_as_the_stream_ends_stops_the_call() -> None:
    left = [5.0]
    handled: list[str] = []

    def messages() -> Iterator[str]:
        yield "m0"
        left[0] = 0.0

    stream = client_messages(
        messages(),
        Cancellation(time_left_s=lambda: left[0]),
        lambda: f"after {len(handled)} messages",
    )

    with pytest.raises(CallDeadlineError, match=r"stopped after 1 messages$"):
        _drain(stream, handled, lambda: None)

    assert handled == ["m0"]
