"""Real clock faults for processes: a shared library preloaded into a child.

The child (and every process it starts, since they inherit the environment)
sees the wall clock moved by the same offset: a whole federation started from
one command lives consistently on another day, TLS certificates included.

Debian's ``datefudge`` does it: it shifts only the wall-clock calls (``time``,
``gettimeofday``, ``clock_gettime(CLOCK_REALTIME)``). libfaketime (Debian's
``faketime``) was tried first and does not fit Python: with its monotonic clock
faked, timed waits (``threading.Event.wait``) never return; with it kept real
(``FAKETIME_DONT_FAKE_MONOTONIC=1``), ``time.sleep`` fails with EINVAL because
its ``clock_nanosleep`` wrapper still shifts absolute monotonic deadlines.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

__all__ = ["DATEFUDGE", "days_until", "needs_datefudge", "shifted_clock_env"]

_CANDIDATES = (
    Path("/usr/lib/x86_64-linux-gnu/datefudge/datefudge.so"),
    Path("/usr/lib/aarch64-linux-gnu/datefudge/datefudge.so"),
)
DATEFUDGE: Path | None = next((path for path in _CANDIDATES if path.is_file()), None)

needs_datefudge = pytest.mark.skipif(
    DATEFUDGE is None, reason="datefudge is not installed (Debian package datefudge)"
)


def days_until(day: dt.date) -> int:
    """Whole days from today (UTC) to ``day``, at least 0."""
    return max(0, (day - dt.datetime.now(dt.UTC).date()).days)


def shifted_clock_env(offset_s: float) -> dict[str, str]:
    """Environment variables that move a child's wall clock by ``offset_s`` seconds.

    Args:
        offset_s: Seconds to add to the real time (negative: the past).
    """
    assert DATEFUDGE is not None, "guard the test with needs_datefudge"
    # datefudge subtracts DATEFUDGE from the real time, in whole seconds.
    return {"LD_PRELOAD": str(DATEFUDGE), "DATEFUDGE": str(-round(offset_s))}
