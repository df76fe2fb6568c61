"""A background loop survives any failure of a round: logged with its name, backed off, resumed."""

from __future__ import annotations

import threading

import pytest
from structlog.testing import capture_logs

from gateway.node.periodic import Periodic, backoff_s


def test_a_loop_goes_on_after_a_round_raises_and_logs_it_with_its_name() -> None:
    rounds: list[int] = []
    resumed = threading.Event()

    def step() -> None:
        rounds.append(len(rounds))
        if len(rounds) == 1:
            raise ValueError("max() arg is an empty sequence")
        resumed.set()

    loop = Periodic("expiry-330500", step, interval_s=0.001)
    with capture_logs() as logs:
        loop.start()
        try:
            assert resumed.wait(30), "the loop did not run again after the failure"
        finally:
            loop.stop()
    failed = [e for e in logs if e["event"] == "loop.failed"]
    assert [(e["loop"], e["failures"], e["log_level"]) for e in failed] == [
        ("expiry-330500", 1, "error")
    ]


@pytest.mark.parametrize(
    ("interval_s", "failures", "expected"),
    [(1.0, 0, 1.0), (1.0, 1, 2.0), (1.0, 3, 8.0), (1.0, 10, 60.0), (120.0, 2, 120.0)],
)
def test_backoff_doubles_per_failure_up_to_a_minute_or_the_interval(
    interval_s: float, failures: int, expected: float
) -> None:
    assert backoff_s(interval_s, failures) == expected
