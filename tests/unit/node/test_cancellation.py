"""The cancellation port: a call no longer wanted stops at the next step, saying how far it got."""

from __future__ import annotations

import pytest

from gateway.core.errors import CallCancelledError, CallDeadlineError
from gateway.node.cancellation import NEVER_CANCELLED, Cancellation


def test_a_call_still_wanted_goes_on() -> None:
    Cancellation(still_wanted=lambda: True, time_left_s=lambda: 2.5).check("after 1 page")
    NEVER_CANCELLED.check("after 1 page")


def test_a_cancelled_call_stops_with_its_progress() -> None:
    with pytest.raises(CallCancelledError) as stopped:
        Cancellation(still_wanted=lambda: False).check("after 3 pages (600 rows read)")

    assert type(stopped.value) is CallCancelledError
    assert str(stopped.value) == (
        "the caller cancelled the call; stopped after 3 pages (600 rows read)"
    )


@pytest.mark.parametrize("left", [0.0, -1.5])
def test_a_call_past_its_deadline_stops_as_such(left: float) -> None:
    # gRPC marks a call past its deadline inactive too: the time left tells them apart.
    scope = Cancellation(still_wanted=lambda: False, time_left_s=lambda: left)

    with pytest.raises(CallDeadlineError, match=r"^the call's deadline passed; stopped after 2 "):
        scope.check("after 2 pages")
