"""Stream admission and deadlines, with an injected clock and recording contexts."""

from __future__ import annotations

from typing import Any, cast

import grpc
import pytest

from gateway.core.errors import LimitExceededError
from gateway.core.principal import Principal, Role
from gateway.rpc.streams import StreamLimits, StreamRegistry

DEPARTMENT = Principal(Role.DEPARTMENT, "330500", "procurement-office", "procurement", "f1")
OTHER_DEPARTMENT = Principal(Role.DEPARTMENT, "330500", "market-office", "market", "f2")
PROVINCE = Principal(Role.NODE, "330000", "330000", None, "f3")
LIMITS = StreamLimits(
    max_streams=5, max_streams_per_client=2, max_streams_per_peer=3, idle_s=10, max_s=100
)


class _Context:
    """Records cancellation, the one thing the registry does to a call."""

    def __init__(self) -> None:
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _context() -> Any:
    return cast(grpc.ServicerContext, _Context())


def test_each_client_and_peer_gets_its_own_count() -> None:
    registry = StreamRegistry(LIMITS, monotonic=_Clock())
    first = registry.open(DEPARTMENT, "/gateway.v1.Intake/Submit", _context())
    registry.open(DEPARTMENT, "/gateway.v1.Intake/Submit", _context())
    with pytest.raises(
        LimitExceededError,
        match=r"^client department:330500/procurement-office has 2 streams open, the most",
    ):
        registry.open(DEPARTMENT, "/gateway.v1.Intake/Submit", _context())
    registry.open(OTHER_DEPARTMENT, "/gateway.v1.Intake/Submit", _context())
    registry.open(PROVINCE, "/gateway.v1.Federation/Push", _context())
    # Closing one stream frees its client's slot.
    registry.close(first)
    registry.open(DEPARTMENT, "/gateway.v1.Intake/Submit", _context())
    assert registry.open_count == 4


def test_the_node_wide_limit_leaves_threads_for_unary_calls() -> None:
    registry = StreamRegistry(LIMITS, monotonic=_Clock())
    for _ in range(3):
        registry.open(PROVINCE, "/gateway.v1.Federation/Push", _context())
    with pytest.raises(LimitExceededError, match=r"^peer node:330000 has 3 streams open"):
        registry.open(PROVINCE, "/gateway.v1.Federation/Push", _context())
    registry.open(DEPARTMENT, "/gateway.v1.Intake/Submit", _context())
    registry.open(DEPARTMENT, "/gateway.v1.Intake/Submit", _context())
    with pytest.raises(
        LimitExceededError, match=r"^this node has 5 streams open, the most allowed at once$"
    ):
        registry.open(OTHER_DEPARTMENT, "/gateway.v1.Intake/Submit", _context())


def test_idle_and_overlong_streams_are_cancelled_once_with_their_reason() -> None:
    clock = _Clock()
    registry = StreamRegistry(LIMITS, monotonic=clock)
    idle_context, busy_context = _Context(), _Context()
    idle = registry.open(DEPARTMENT, "/gateway.v1.Intake/Submit", cast(Any, idle_context))
    busy = registry.open(PROVINCE, "/gateway.v1.Federation/Push", cast(Any, busy_context))
    clock.now += 9
    registry.touch(busy)
    assert registry.overdue() == []
    clock.now += 1
    registry.end_overdue()
    assert (idle_context.cancelled, busy_context.cancelled) == (True, False)
    assert idle.ended == "idle for over 10 s"
    assert registry.overdue() == []  # reported once, while its handler winds down
    for _ in range(10):
        clock.now += 9
        registry.touch(busy)
    assert registry.overdue() == [(busy, "open for over 100 s")]
