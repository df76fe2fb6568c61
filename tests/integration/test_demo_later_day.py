"""The README's demo runs the same on a day long after its samples were made."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from tests.support.clock import days_until, needs_datefudge, shifted_clock_env
from tests.support.demo import assert_every_flow
from tests.support.federation import run_gateway

# From about 2027-01-21 the minor penalties of the checked-in samples are past
# their disclosure period; the demo must not care what day it runs on.
LATER_DAY = dt.date(2027, 6, 1)


@pytest.mark.slow
@pytest.mark.timeout(600)
@needs_datefudge
def test_the_demo_runs_the_same_on_a_day_long_after_the_samples_were_made(
    tmp_path: Path,
) -> None:
    # Every process of the demo (the command and the six nodes it starts) runs
    # with its wall clock moved past 2027-06-01.
    offset = shifted_clock_env(days_until(LATER_DAY) * 86400)
    result = run_gateway("demo", "--dir", str(tmp_path / "demo"), timeout_s=580, env=offset)
    assert_every_flow(result.returncode, result.stdout, result.stderr, tmp_path)
    written = re.search(r"samples written for (\d{4}-\d{2}-\d{2})", result.stdout)
    assert written is not None
    assert dt.date.fromisoformat(written.group(1)) >= LATER_DAY
