"""A client stream whose caller left ends in the domain's error, naming what was handled."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import grpc
import pytest

from gateway.core.errors import CallCancelledError, CallDeadlineError
from gateway.node.cancellation import Cancellation
from gateway.rpc.context import client_messages


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
